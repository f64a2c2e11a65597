"""Ratio of two means with a confidence interval over repeats (Fieller's theorem).

Fieller gives an exact interval for a/b when the means are normal and independent,
without the delta method's symmetric approximation, which is poor when the denominator
is noisy. With v11 = s_a²/n_a, v22 = s_b²/n_b (independent variants, so v12 = 0),
r = a/b, t the Student quantile with n_a + n_b − 2 degrees of freedom and
g = t²·v22 / b²:
    interval = [r ± (t/|b|)·sqrt(v11 + r²·v22 − g·v11)] / (1 − g)
When g ≥ 1 the denominator is not significantly different from 0 and the interval is
unbounded; we then report no interval rather than a misleading one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats as st

from bench.analysis.stats import clean


@dataclass(frozen=True)
class Ratio:
    value: float | None
    low: float | None
    high: float | None
    note: str = ""


def point_ratio(a: float | None, b: float | None) -> float | None:
    """a / b; 0/0 is 1 (no change), x/0 is infinite, missing is None."""
    if a is None or b is None or math.isnan(a) or math.isnan(b):
        return None
    if b == 0:
        return 1.0 if a == 0 else math.inf
    return a / b


def fieller(candidate: Sequence[float | None], reference: Sequence[float | None], confidence: float = 0.95) -> Ratio:
    a_vals, b_vals = clean(candidate), clean(reference)
    if len(a_vals) == 0 or len(b_vals) == 0:
        return Ratio(None, None, None, "not measured")
    a, b = float(a_vals.mean()), float(b_vals.mean())
    r = point_ratio(a, b)
    if len(a_vals) < 2 or len(b_vals) < 2:
        return Ratio(r, None, None, "1 repeat: no interval")
    if b == 0 or r is None or math.isinf(r):
        return Ratio(r, None, None, "reference is 0")
    v11 = a_vals.var(ddof=1) / len(a_vals)
    v22 = b_vals.var(ddof=1) / len(b_vals)
    t = st.t.ppf(0.5 + confidence / 2, len(a_vals) + len(b_vals) - 2)
    g = t * t * v22 / (b * b)
    if g >= 1:
        return Ratio(r, None, None, "reference too noisy: interval unbounded")
    root = math.sqrt(max(v11 + r * r * v22 - g * v11, 0.0))
    half = t / abs(b) * root
    return Ratio(r, float((r - half) / (1 - g)), float((r + half) / (1 - g)))
