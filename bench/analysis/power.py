"""Precision you can plan: repeats and window length needed to detect a given difference.

For a paired comparison (bench.analysis.paired) of per-repeat log ratios with standard
deviation sd, a true ratio of 1+delta is detected (two-sided t test at 1-alpha) with power
P when the noncentral t with n-1 degrees of freedom and noncentrality
log(1+delta)·sqrt(n)/sd clears the critical value with probability P. The smallest such
n is the number of repeats to run.

Window length: within-window noise of a per-request figure shrinks as 1/sqrt(window),
run-to-run drift does not. From one run both cannot be told apart, so the plan gives the
repeats needed at the run's own window, and at a longer window under the stated
assumption that all the noise is within-window (the best a longer window can do).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import integrate
from scipy import stats as st

MAX_REPEATS = 200


def power(n: int, sd_log: float, delta: float, alpha: float = 0.05) -> float:
    """Probability that n paired repeats detect a ratio of 1+delta."""
    if n < 2:
        return 0.0
    df = n - 1
    crit = st.t.ppf(1 - alpha / 2, df)
    if sd_log <= 0:
        return 1.0
    nc = abs(math.log1p(delta)) * math.sqrt(n) / sd_log
    return _exceeds(nc, crit, df) + _exceeds(-nc, crit, df)


def _exceeds(nc: float, crit: float, df: int) -> float:
    """P(T > crit) for T noncentral t(df, nc) = (Z + nc) / sqrt(V/df), V ~ chi2(df): the
    expectation over V of P(Z > crit·sqrt(V/df) − nc). Integrated directly, because scipy's
    nct returns nan for moderate noncentralities at small df."""
    def integrand(v: float) -> float:
        return float(st.chi2.pdf(v, df) * st.norm.sf(crit * math.sqrt(v / df) - nc))

    value, _ = integrate.quad(integrand, 0, math.inf, limit=200)
    return min(max(value, 0.0), 1.0)


def repeats_needed(sd_log: float, delta: float, alpha: float = 0.05, target: float = 0.8) -> int | None:
    """Smallest n (>= 2) with power >= target; None if above MAX_REPEATS."""
    for n in range(2, MAX_REPEATS + 1):
        if power(n, sd_log, delta, alpha) >= target:
            return n
    return None


@dataclass(frozen=True)
class PlanRow:
    metric: str
    sd_log: float
    pairs: int  # paired repeats the sd was estimated from
    repeats: int | None  # at the run's window
    window_s: float
    repeats_longer: int | None  # at longer_window_s, if all noise were within-window
    longer_window_s: float
    minutes: float | None  # wall time at the run's window for the two variants compared
    minutes_longer: float | None


def plan_row(metric: str, sd_log: float, pairs: int, delta: float, window_s: float, seconds_per_variant: float,
             overhead_s: float, longer: float = 2.0, alpha: float = 0.05, target: float = 0.8) -> PlanRow:
    """``seconds_per_variant``: wall time of one measured variant (start, warm-up, window, stop);
    ``overhead_s``: the part of it that is not the window."""
    n = repeats_needed(sd_log, delta, alpha, target)
    n_long = repeats_needed(sd_log / math.sqrt(longer), delta, alpha, target)
    longer_s = window_s * longer
    minutes = 2 * n * seconds_per_variant / 60 if n else None
    minutes_long = 2 * n_long * (overhead_s + longer_s) / 60 if n_long else None
    return PlanRow(metric, sd_log, pairs, n, window_s, n_long, longer_s, minutes, minutes_long)
