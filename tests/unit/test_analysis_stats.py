"""Statistics against known distributions (fixed seeds, so deterministic)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench.analysis.ratios import fieller, point_ratio
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


def test_fieller_interval_covers_the_true_ratio():
    rng = np.random.default_rng(7)
    trials, hits, bounded = 1000, 0, 0
    for _ in range(trials):
        r = fieller(rng.normal(12.0, 0.6, 4), rng.normal(10.0, 0.5, 4))
        if r.low is not None:
            bounded += 1
            hits += r.low <= 1.2 <= r.high
    assert bounded == trials
    assert 0.93 <= hits / bounded <= 0.97


def test_fieller_refuses_an_unbounded_interval():
    r = fieller([10.0, 11.0], [0.1, 5.0])
    assert r.value is not None and r.low is None and "unbounded" in r.note


def test_point_ratio_edge_cases():
    assert point_ratio(0.0, 0.0) == 1.0
    assert point_ratio(5.0, 0.0) == float("inf")
    assert point_ratio(None, 1.0) is None


def test_mann_whitney_detects_a_shift_and_the_bootstrap_brackets_it():
    rng = np.random.default_rng(1)
    ref = rng.lognormal(np.log(4.0), 0.4, 3000)
    cand = rng.lognormal(np.log(4.0), 0.4, 3000) * 1.10
    s = latency_significance(ref, cand, seed=0, n_boot=400)
    assert s.location_significant and s.mw_pvalue < 1e-6
    assert s.p99_ratio_low < 1.10 < s.p99_ratio_high
    assert s.p99_significant


def test_identical_distributions_are_rarely_flagged():
    rng = np.random.default_rng(2)
    flagged = sum(
        latency_significance(rng.lognormal(1, 0.4, 300), rng.lognormal(1, 0.4, 300), n_boot=10).location_significant
        for _ in range(200)
    )
    assert flagged / 200 <= 0.10  # nominal false-positive rate 5%


def test_too_few_samples_make_no_claim():
    s = latency_significance(np.ones(5), np.ones(5))
    assert s.mw_pvalue is None and not s.location_significant and "too few" in s.verdict()


@pytest.mark.parametrize("shift", [1.0, 1.3])
def test_bootstrap_interval_of_p99_ratio_contains_truth(shift):
    rng = np.random.default_rng(3)
    ref = rng.exponential(5.0, 20000)
    cand = rng.exponential(5.0, 20000) * shift
    s = latency_significance(ref, cand, n_boot=300)
    assert s.p99_ratio_low <= shift <= s.p99_ratio_high
