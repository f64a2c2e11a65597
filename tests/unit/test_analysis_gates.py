"""Gate grammar and evaluation."""

from __future__ import annotations

import math

import pytest

from bench.analysis.gates import GateInput, evaluate, parse_gate
from bench.errors import InputError


@pytest.mark.parametrize(
    "text,column,ratio,op,threshold",
    [
        ("p99_latency_ratio>1.10", "client_p99_ms", True, ">", 1.10),
        ("p50_latency_ratio >= 1.05", "client_p50_ms", True, ">=", 1.05),
        ("bytes_per_request_ratio>1.5", "bytes_per_request", True, ">", 1.5),
        ("cpu_per_1k_ratio<=2", "cpu_ms_per_1k", True, "<=", 2.0),
        ("events_per_request>3", "events_per_request", False, ">", 3.0),
        ("drops>0", "drops", False, ">", 0.0),
        ("p99_latency_ms>50", "client_p99_ms", False, ">", 50.0),
        ("achieved_rps<100", "achieved_rps", False, "<", 100.0),
    ],
)
def test_parse(text, column, ratio, op, threshold):
    g = parse_gate(text)
    assert (g.column, g.ratio, g.op, g.threshold) == (column, ratio, op, threshold)


@pytest.mark.parametrize("text", ["p99_latency_ratio", "p99>", "x>1", "p99_latency_ratio=1", "drops>>0", ""])
def test_bad_gates(text):
    with pytest.raises(InputError):
        parse_gate(text, "--fail-on")


def _fig(point, low=None, high=None, n=5, per_repeat=()):
    return GateInput(list(per_repeat), low, high, point, n)


@pytest.mark.parametrize(
    "text,low,high,outcome",
    [("p99_latency_ratio>1.10", 1.11, 1.20, "tripped"),    # the whole interval above the bound
     ("p99_latency_ratio>1.10", 0.95, 1.10, "pass"),       # none of it above
     ("p99_latency_ratio>1.10", 1.05, 1.15, "inconclusive"),
     ("p99_latency_ratio>=1.10", 1.10, 1.30, "tripped"),
     ("p99_latency_ratio<0.9", 0.7, 0.85, "tripped"),
     ("p99_latency_ratio<=0.9", 0.95, 1.0, "pass"),
     ("p99_latency_ratio>1.1", math.inf, math.inf, "tripped")],
)
def test_ratio_gate_needs_its_interval(text, low, high, outcome):
    r = evaluate(parse_gate(text), "a -> b", _fig((low + high) / 2 if math.isfinite(low) else low, low, high))
    assert r.outcome == outcome
    assert r.tripped is (outcome != "pass")  # an inconclusive gate fails the build too


def test_ratio_gate_with_too_few_repeats_is_inconclusive():
    r = evaluate(parse_gate("p99_latency_ratio>1.10"), "s", _fig(1.5, 1.4, 1.6, n=3))
    assert r.outcome == "inconclusive" and "at least 5" in r.note


def test_count_gate_looks_at_every_repeat_at_any_n():
    r = evaluate(parse_gate("drops>0"), "s", _fig(1.3, n=3, per_repeat=[0.0, 0.0, 4.0]))
    assert r.outcome == "tripped" and r.value == 4.0 and r.note == "1 of 3 repeats"
    ok = evaluate(parse_gate("canary_leaks>0"), "s", _fig(0.0, n=1, per_repeat=[0.0]))
    assert ok.outcome == "pass"


def test_unmeasured_figure_trips_rather_than_passing_silently():
    r = evaluate(parse_gate("drops>0"), "s", None)
    assert r.tripped and r.note == "not measured"
