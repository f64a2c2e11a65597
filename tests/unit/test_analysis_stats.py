"""Statistics against known distributions (fixed seeds, so deterministic)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench.analysis import verdict
from bench.analysis.paired import Ratio, paired_ratio, point_ratio, welch_ratio
from bench.analysis.power import power, repeats_needed
from bench.analysis.significance import latency_significance
from bench.analysis.stats import estimate, summarize


def test_t_interval_covers_the_true_mean_about_95_percent():
    rng = np.random.default_rng(42)
    trials, hits = 2000, 0
    for _ in range(trials):
        e = estimate(rng.normal(10.0, 2.0, 5))
        hits += e.ci_low <= 10.0 <= e.ci_high
    assert 0.93 <= hits / trials <= 0.97


def test_one_repeat_has_no_interval_and_says_so():
    e = estimate([3.0])
    assert e.mean == 3.0 and e.ci_low is None and "1 repeat" in e.note


def test_missing_values_are_not_measured():
    e = estimate([None, float("nan")])
    assert e.n == 0 and e.mean is None and e.note == "not measured"


def test_stability_flag_at_five_percent_cv():
    assert not estimate([100.0, 101.0, 99.0]).unstable
    unstable = estimate([100.0, 120.0, 80.0])
    assert unstable.unstable and "CV" in unstable.note


def test_summarize_skips_failed_repeats():
    frame = pd.DataFrame({"variant_id": ["a", "a", "a"], "status": ["ok", "ok", "failed"],
                          "client_p99_ms": [10.0, 12.0, 1000.0]})
    s = summarize(frame, metrics=["client_p99_ms"])
    assert s.iloc[0]["n"] == 2 and s.iloc[0]["mean"] == 11.0


def _repeats(rng, n: int, ratio: float, drift: float = 0.10, noise: float = 0.02):
    """Per-repeat figures of a candidate and its baseline: each repeat shares a machine factor
    (drift between repeats, as on a busy small machine) and has its own small noise."""
    machine = rng.lognormal(0.0, drift, n)
    cand = {k + 1: 100.0 * ratio * machine[k] * rng.lognormal(0.0, noise) for k in range(n)}
    ref = {k + 1: 100.0 * machine[k] * rng.lognormal(0.0, noise) for k in range(n)}
    return cand, ref


@pytest.mark.parametrize("n", [3, 5])
def test_paired_interval_covers_the_true_ratio_about_95_percent(n):
    rng = np.random.default_rng(7)
    trials, hits = 2000, 0
    for _ in range(trials):
        r = paired_ratio(*_repeats(rng, n, 1.05))
        hits += r.low <= 1.05 <= r.high
    assert 0.93 <= hits / trials <= 0.97


def test_pairing_removes_the_drift_that_welch_cannot():
    rng = np.random.default_rng(8)
    cand, ref = _repeats(rng, 5, 1.05, drift=0.15, noise=0.01)
    paired = paired_ratio(cand, ref)
    welch = welch_ratio(list(cand.values()), list(ref.values()))
    assert paired.method == "paired" and welch.method == "welch"
    assert (paired.high - paired.low) * 5 < (welch.high - welch.low)
    assert paired.low > 1.0  # the 5% is detected only when paired


def test_unmatched_repeats_fall_back_to_welch():
    r = paired_ratio({1: 10.0, 2: 11.0, 3: 10.5}, {4: 9.0, 5: 9.5, 6: 9.2})
    assert r.method == "welch" and r.low < r.value < r.high


def test_a_zero_has_no_log_ratio():
    r = paired_ratio({1: 0.0, 2: 0.0}, {1: 0.0, 2: 0.0})
    assert r.value == 1.0 and r.low is None and "0" in r.note


def test_point_ratio_edge_cases():
    assert point_ratio(0.0, 0.0) == 1.0
    assert point_ratio(5.0, 0.0) == float("inf")
    assert point_ratio(None, 1.0) is None


def test_a_a_calibration_calls_at_most_about_5_percent_different():
    # Baseline against baseline: "more" must be supported in at most ~2.5% (one side) and
    # the interval must exclude 1 in at most ~5% of comparisons.
    rng = np.random.default_rng(9)
    trials, different, supported = 4000, 0, 0
    for _ in range(trials):
        r = paired_ratio(*_repeats(rng, 3, 1.0))
        different += not (r.low <= 1.0 <= r.high)
        supported += verdict.more(r).status == verdict.SUPPORTED
    assert different / trials <= 0.065
    assert supported / trials <= 0.035


def test_a_known_cost_is_detected():
    rng = np.random.default_rng(10)
    found = sum(verdict.more(paired_ratio(*_repeats(rng, 5, 1.10))).status == verdict.SUPPORTED for _ in range(500))
    assert found / 500 >= 0.95


def test_equivalence_needs_the_whole_interval_inside_the_bound():
    inside = Ratio(1.02, 0.97, 1.08, n=5, method="paired")
    crossing = Ratio(1.03, 0.84, 1.23, n=5, method="paired")  # the smoke example's Metadata p99
    above = Ratio(1.3, 1.2, 1.4, n=5, method="paired")
    assert verdict.at_most(inside, 1.10).status == verdict.SUPPORTED
    assert verdict.at_most(crossing, 1.10).status == verdict.INCONCLUSIVE
    assert verdict.at_most(above, 1.10).status == verdict.NOT_SUPPORTED


def test_two_repeats_are_inconclusive_whatever_the_estimate():
    r = paired_ratio({1: 200.0, 2: 201.0}, {1: 100.0, 2: 100.5})
    assert r.has_interval and r.low > 1.5
    v = verdict.more(r)
    assert v.status == verdict.INCONCLUSIVE and "at least 3" in v.reason


def test_combined_claims():
    s, i, n = (verdict.Verdict(x, x) for x in (verdict.SUPPORTED, verdict.INCONCLUSIVE, verdict.NOT_SUPPORTED))
    assert verdict.combine(s, s).status == verdict.SUPPORTED
    assert verdict.combine(s, i).status == verdict.INCONCLUSIVE
    assert verdict.combine(i, n).status == verdict.NOT_SUPPORTED


def test_power_matches_simulation():
    sd, delta, n = 0.03, 0.05, 4
    predicted = power(n, sd, delta)
    rng = np.random.default_rng(11)
    hits = 0
    for _ in range(3000):
        d = rng.normal(np.log1p(delta), sd, n)
        half = 3.182446305284263 * d.std(ddof=1) / np.sqrt(n)  # t(0.975, 3)
        hits += d.mean() - half > 0
    assert abs(hits / 3000 - predicted) < 0.04
    assert repeats_needed(sd, delta) == min(k for k in range(2, 50) if power(k, sd, delta) >= 0.8)


def _per_repeat_samples(rng, n: int, shift: float):
    machine = rng.lognormal(0.0, 0.05, n)
    ref = {k + 1: rng.exponential(5.0, 3000) * machine[k] for k in range(n)}
    cand = {k + 1: rng.exponential(5.0, 3000) * machine[k] * shift for k in range(n)}
    return ref, cand


@pytest.mark.parametrize("shift", [1.0, 1.3])
def test_repeat_bootstrap_of_p99_contains_the_truth(shift):
    ref, cand = _per_repeat_samples(np.random.default_rng(3), 5, shift)
    s = latency_significance(ref, cand, n_boot=500)
    assert s.repeats == 5 and s.p99.method == "repeat bootstrap"
    assert s.p99_ratio_low <= shift * 1.02 and s.p99_ratio_high >= shift * 0.98


def test_too_few_repeats_make_no_latency_claim():
    s = latency_significance({1: np.ones(50)}, {1: np.ones(50)})
    assert s.p99_ratio is None and not s.p99_significant and "1 paired repeat" in s.verdict()
