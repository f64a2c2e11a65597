"""The capacity search against a model server (pure: no cluster)."""

from __future__ import annotations

import math

import pytest

from bench.analysis import probe


def model(capacity: float, base_ms: float = 5.0):
    """An M/M/1-like server: keeps up below capacity, p99 grows as 1/(1-load); above it the
    achieved rate is capped and the queue grows without bound."""
    def run(rate: float) -> probe.Step:
        load = rate / capacity
        if load >= 1:
            return probe.judge(rate, capacity * 0.999, 60_000.0, 0.0, 1.0)
        p99 = base_ms * math.log(100) / (1 - load)
        return probe.judge(rate, rate * 0.999, p99, 0.0, 1.0)
    return run


@pytest.mark.parametrize("capacity", [73.0, 420.0, 1900.0])
def test_search_finds_the_capacity_within_its_precision(capacity):
    r = probe.search(model(capacity), start_rps=50, max_rps=5000, slo_s=1.0, precision=0.05)
    assert r.capacity_rps is not None
    # p99 under 1 s needs load below 1 - 23 ms/1000 ms: the knee sits just under the capacity
    knee = capacity * (1 - 5.0 * math.log(100) / 1000)
    assert knee / 1.05 <= r.capacity_rps <= knee
    lo, hi = r.bracket
    assert hi / lo - 1 <= 0.05 and len(r.steps) <= probe.MAX_STEPS


def test_a_server_slower_than_the_start_rate_has_no_capacity():
    r = probe.search(model(20.0), start_rps=50, max_rps=5000, slo_s=1.0)
    assert r.capacity_rps is None and "start rate" in r.note and len(r.steps) == 1


def test_a_server_faster_than_the_maximum_is_reported_as_such():
    r = probe.search(model(1e6), start_rps=50, max_rps=400, slo_s=1.0)
    assert r.capacity_rps == 400 and "maximum" in r.note


def test_step_reasons():
    assert probe.judge(100, 97.0, 10.0, 0.0, 1.0).reason.startswith("achieved 97.0")
    assert not probe.judge(100, 99.0, 10.0, 0.0, 1.0).reason
    assert "SLO" in probe.judge(100, 100.0, 1500.0, 0.0, 1.0).reason
    assert "failed" in probe.judge(100, 100.0, 10.0, 0.05, 1.0).reason
    assert "no successful" in probe.judge(100, 100.0, None, 0.0, 1.0).reason
