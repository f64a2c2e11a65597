"""The slow-consumer soak: fault stretches in the scenario and the memory verdict (pure)."""

from __future__ import annotations

import numpy as np
import pytest

from bench.analysis.soak import counter_delta, judge_series, latency_phases, soak_verdict, trend
from bench.errors import InputError
from bench.scenario.loader import parse_scenario
from bench.scenario.matrix import expand


def _scenario(receiver: dict, duration: str = "60s") -> dict:
    return {"name": "s", "policies": ["metadata-all"], "baseline": False,
            "audit": {"log": {"enabled": [False]},
                      "webhook": {"enabled": [True], "mode": ["batch", "blocking"], "receiver": receiver}},
            "traffic": {"profiles": ["mixed"], "mode": "open", "rates": [50], "duration": duration},
            "timeseries": "1s"}


def test_a_stretch_reaches_every_variant() -> None:
    vs = expand(parse_scenario(_scenario({"delay_ms": 500, "down_for_s": 5, "fault_at": "10s", "fault_for": "30s"})))
    assert {v.webhook.mode for v in vs} == {"batch", "blocking"}
    for v in vs:
        assert (v.webhook.receiver_fault_at_s, v.webhook.receiver_fault_for_s) == (10.0, 30.0)
        assert v.webhook.receiver_delay_ms == 500 and v.webhook.receiver_down_for_s == 5


@pytest.mark.parametrize("receiver, message", [
    ({"delay_ms": 5, "fault_at": "10s"}, "go together"),
    ({"fault_at": "10s", "fault_for": "5s"}, "needs delay_ms, error_rate or down_for_s"),
    ({"down_for_s": 20, "fault_at": "1s", "fault_for": "5s"}, "longer than the stretch"),
    ({"delay_ms": 5, "fault_at": "50s", "fault_for": "20s"}, "after the 1m window"),
])
def test_bad_stretches_are_refused(receiver: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_scenario(_scenario(receiver))


def _points(heap: list[float], t0: float = 0.0) -> list[dict]:
    return [{"t": t0 + i, "heap_inuse_bytes": h, "goroutines": 100, "receiver_connections": 1} for i, h in enumerate(heap)]


def test_trend_interval_covers_a_known_slope() -> None:
    rng = np.random.default_rng(1)
    t = np.arange(30.0)
    tr = trend(t, 5.0 * t + rng.normal(0, 1, 30))
    assert tr is not None and tr.low < 5.0 < tr.high and tr.points == 30
    assert trend(t[:2], t[:2]) is None


def test_heap_still_climbing_at_the_stretch_end_grows() -> None:
    heap = [100.0] * 20 + [100.0 + 5 * i for i in range(40)] + [300.0] * 20
    out = judge_series(_points(heap), "heap_inuse_bytes", (0, 80), (20, 60))
    assert out["verdict"] == "grows" and out["before_median"] == 100.0
    assert out["late_trend_per_min"]["slope"] == pytest.approx(300.0)
    assert out["recovered"] is False


def test_a_plateau_is_bounded_and_a_recovery_is_seen() -> None:
    rise = [100.0 + min(10 * i, 150) for i in range(40)]  # climbs, then flat for the second half
    heap = [100.0] * 20 + rise + [102.0] * 20
    out = judge_series(_points(heap), "heap_inuse_bytes", (0, 80), (20, 60))
    assert out["verdict"] == "bounded" and out["during_peak"] == 250.0 and out["recovered"] is True


def test_a_small_steady_rise_is_bounded_and_too_few_points_inconclusive() -> None:
    heap = [1000.0] * 20 + [1000.0 + i for i in range(40)]  # +4% at the end
    assert judge_series(_points(heap), "heap_inuse_bytes", (0, 60), (20, 60))["verdict"] == "bounded"
    short = judge_series(_points([1.0] * 30), "heap_inuse_bytes", (0, 30), (20, 28))
    assert short["verdict"] == "inconclusive"


def test_drops_backlog_and_latency_phases() -> None:
    pts = _points([100.0] * 60)
    for i, p in enumerate(pts):
        p["audit_errors"] = {"buffered": max(0, i - 30) * 10}
        p["backlog_events"] = 5 * i if i < 40 else 0
    assert counter_delta(pts, 20, 50, lambda p: p["audit_errors"]["buffered"]) == 200
    lat = [{"t": float(i), "p99_ms": 10.0 if not 20 <= i < 40 else 90.0} for i in range(60)]
    assert latency_phases(lat, (0, 60), (20, 40)) == {"before": 10.0, "during": 90.0, "after": 10.0}
    v = soak_verdict({"points": pts, "latency": lat}, (0.0, 60.0), (20.0, 40.0))
    assert v["backlog_peak"] == 195 and v["drops_total"] == 290 and v["verdict"] == "bounded"


def test_proc_points_do_not_count_as_zero_drops() -> None:
    metrics = [{"t": float(i), "audit_errors": {"buffered": 10 * i}, "heap_inuse_bytes": 1.0} for i in range(0, 60, 2)]
    procs = [{"t": float(i), "audit_errors": None, "rss_bytes": 1} for i in range(1, 60, 2)]
    pts = sorted(metrics + procs, key=lambda p: p["t"])
    v = soak_verdict({"points": pts}, (0.0, 59.0), (20.0, 40.0))
    assert v["drops_total"] == 580 and v["drops_during"] == 200


def test_growth_no_faster_than_the_traffics_own_drift_is_bounded() -> None:
    drift = [100.0 + 2.0 * i for i in range(80)]  # the same slope before, during and after
    out = judge_series(_points(drift), "heap_inuse_bytes", (0, 80), (20, 60))
    assert out["verdict"] == "bounded" and "no faster than before" in out["reason"]
    assert out["before_trend_per_min"] == pytest.approx(120.0)
    faster = [100.0 + 0.5 * i for i in range(20)] + [110.0 + 5.0 * i for i in range(40)] + [300.0] * 20
    assert judge_series(_points(faster), "heap_inuse_bytes", (0, 80), (20, 60))["verdict"] == "grows"
