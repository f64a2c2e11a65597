"""Histogram quantiles exactly as ClusterLoader2 computes them (component-base bucketQuantile)."""

from __future__ import annotations

import math

import pytest

from bench.measure.apimetrics import Snapshot, bucket_quantile, latency_server


def _buckets(samples: list[float], bounds: list[float]) -> list[tuple[float, float]]:
    """Cumulative buckets as component-base's samples2Histogram builds them, plus the +Inf
    bucket its Quantile appends when the last bound is finite."""
    out = [(b, float(sum(1 for s in samples if s < b))) for b in bounds]
    if not math.isinf(bounds[-1]):
        out.append((math.inf, float(len(samples))))
    return out


# The cases of k8s.io/component-base v0.37.2 metrics/testutil TestHistogramQuantile.
UPSTREAM = [
    ("repeating numbers", [0.5] * 4 + [1.5] * 4 + [3] * 4 + [6] * 4, [1, 2, 4, 8], 2, 6.4, 7.84),
    ("random numbers", [11, 67, 61, 21, 40, 36, 52, 63, 8, 3, 67, 35, 61, 1, 36, 58], [10, 20, 40, 80], 40, 72, 79.2),
    ("the last bucket is empty", [6, 34, 30, 10, 20, 18, 26, 31, 4, 2, 33, 17, 30, 1, 18, 29], [10, 20, 40, 80], 20, 36, 39.6),
    ("the last bucket has +Inf upper bound", [5] * 16 + [500], [10, 20, 40, math.inf], 5.3125, 9.5625, 40),
]


@pytest.mark.parametrize(("name", "samples", "bounds", "q50", "q90", "q99"), UPSTREAM, ids=[c[0] for c in UPSTREAM])
def test_upstream_cases(name, samples, bounds, q50, q90, q99):
    b = _buckets(samples, bounds)
    assert bucket_quantile(0.5, b) == pytest.approx(q50, rel=1e-12)
    assert bucket_quantile(0.9, b) == pytest.approx(q90, rel=1e-12)
    assert bucket_quantile(0.99, b) == pytest.approx(q99, rel=1e-12)
    assert bucket_quantile(0.999999, b) < bounds[-1]


def test_first_bucket_interpolates_from_zero():
    b = [(0.005, 10.0), (0.025, 30.0), (0.05, 40.0), (math.inf, 40.0)]
    assert bucket_quantile(0.1, b) == pytest.approx(0.002)  # rank 4 of 10 in [0, 5 ms]
    assert bucket_quantile(0.5, b) == pytest.approx(0.015)  # rank 20: 10 into the 20 of [5, 25 ms]


def test_rank_in_the_inf_bucket_returns_the_highest_finite_bound():
    assert bucket_quantile(0.9, [(0.005, 10.0), (math.inf, 20.0)]) == 0.005


def test_out_of_range_and_degenerate_inputs():
    b = [(1.0, 1.0), (math.inf, 1.0)]
    assert bucket_quantile(-0.1, b) == -math.inf
    assert bucket_quantile(1.1, b) == math.inf
    assert math.isnan(bucket_quantile(0.5, [(math.inf, 3.0)]))


def _hist(name: str, labels: dict[str, str], counts: dict[str, float]) -> dict:
    out = {}
    for le, n in counts.items():
        out[tuple(sorted({**labels, "le": le}.items()))] = n
    return {f"{name}_bucket": out}


def test_latency_split_and_cl2_filters():
    bounds = ["0.005", "0.025", "0.05", "+Inf"]

    def snap(get: list[float], post: list[float], watch: list[float], exec_: list[float]) -> Snapshot:
        series: dict = {}
        for verb, sub, counts in (("GET", "", get), ("POST", "", post), ("WATCH", "", watch), ("CONNECT", "exec", exec_)):
            labels = {"verb": verb, "resource": "pods", "subresource": sub, "scope": "namespace"}
            series.update(_hist("apiserver_request_duration_seconds", labels, dict(zip(bounds, counts)))["apiserver_request_duration_seconds_bucket"])
        return Snapshot(0.0, {"apiserver_request_duration_seconds_bucket": series})

    before = snap([5, 5, 5, 5], [0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0])
    # Window: 10 GETs all under 5 ms, 10 POSTs between 25 and 50 ms; a watch and an exec
    # that lasted long (excluded as CL2 excludes them).
    after = snap([15, 15, 15, 15], [0, 0, 10, 10], [0, 0, 0, 3], [0, 0, 0, 2])
    lat = latency_server(before, after)
    # Inside the first bucket no value is interpolated from 0: only its bounds are given.
    assert lat["readonly"] == {"count": 10, "p50_ms": None, "p90_ms": None, "p99_ms": None,
                               "bounds_ms": {"p50": [0.0, 5.0], "p90": [0.0, 5.0], "p99": [0.0, 5.0]}}
    assert lat["mutating"] == {"count": 10, "p50_ms": 37.5, "p90_ms": 47.5, "p99_ms": 49.75,
                               "bounds_ms": {"p50": [25.0, 50.0], "p90": [25.0, 50.0], "p99": [25.0, 50.0]}}
    assert lat["all"]["count"] == 20
    assert lat["all"]["p50_ms"] is None  # rank 10: the top of the first bucket
    assert lat["all"]["p90_ms"] == pytest.approx(45.0)
    assert lat["sli_all"] is None  # no SLI series in this snapshot
    assert set(lat["by_class"]) == {"GET pods namespace", "POST pods namespace"}
