"""Candidate / reference ratios with intervals over repeats, paired by repeat.

Each repeat of a run measures every variant once, interleaved, so the candidate and the
baseline of the same repeat share that repeat's machine state (load from other work,
thermal state, page cache). Their per-repeat log ratio removes what they share:

    d_k = log(candidate_k / reference_k),   ratio = exp(mean d),
    interval = exp(mean d ± t_{n-1} · sd(d) / sqrt(n))

Where pairing is impossible (different repeats, or two runs), the log values are compared
unpaired with Welch's degrees of freedom. Logs make the interval a ratio interval (never
negative, symmetric in the ratio's direction) and the point value a ratio of geometric
means. Non-positive values (a count that was 0) have no log: the ratio of arithmetic
means is given without an interval, and says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import stats as st


@dataclass(frozen=True)
class Ratio:
    value: float | None
    low: float | None
    high: float | None
    note: str = ""
    n: int = 0  # pairs (paired) or the smaller side's repeats (unpaired)
    method: str = ""  # "paired" | "welch" | "" (no interval)
    sd_log: float | None = None  # sd of the per-repeat log ratios (paired): what precision planning needs

    @property
    def has_interval(self) -> bool:
        return self.low is not None and self.high is not None


def point_ratio(a: float | None, b: float | None) -> float | None:
    """a / b; 0/0 is 1 (no change), x/0 is infinite, missing is None."""
    if a is None or b is None or math.isnan(a) or math.isnan(b):
        return None
    if b == 0:
        return 1.0 if a == 0 else math.inf
    return a / b


def _clean(values: Mapping[int, float | None]) -> dict[int, float]:
    return {k: float(v) for k, v in values.items() if v is not None and not math.isnan(float(v))}


def paired_ratio(candidate: Mapping[int, float | None], reference: Mapping[int, float | None],
                 confidence: float = 0.95) -> Ratio:
    """Ratio over the repeats both sides measured; Welch when they share fewer than 2."""
    cand, ref = _clean(candidate), _clean(reference)
    if not cand or not ref:
        return Ratio(None, None, None, "not measured")
    common = sorted(set(cand) & set(ref))
    if any(v <= 0 for v in (*cand.values(), *ref.values())):
        r = point_ratio(float(np.mean(list(cand.values()))), float(np.mean(list(ref.values()))))
        return Ratio(r, None, None, "a value is 0: ratio of means, no interval", min(len(cand), len(ref)))
    if len(common) >= 2:
        d = np.log([cand[k] / ref[k] for k in common])
        n = len(d)
        mean, sd = float(d.mean()), float(d.std(ddof=1))
        half = st.t.ppf(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n)
        return Ratio(math.exp(mean), math.exp(mean - half), math.exp(mean + half), "", n, "paired", sd)
    return welch_ratio(list(cand.values()), list(ref.values()), confidence)


def welch_ratio(candidate: list[float], reference: list[float], confidence: float = 0.95) -> Ratio:
    """Unpaired: difference of mean logs, Welch–Satterthwaite degrees of freedom."""
    a, b = np.log(candidate), np.log(reference)
    r = math.exp(float(a.mean() - b.mean()))
    n = min(len(a), len(b))
    if len(a) < 2 or len(b) < 2:
        return Ratio(r, None, None, "1 repeat: no interval", n)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return Ratio(r, r, r, "", n, "welch")
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = st.t.ppf(0.5 + confidence / 2, df) * se
    return Ratio(r, r * math.exp(-half), r * math.exp(half), "", n, "welch")


def repeat_bootstrap(candidate: Mapping[int, np.ndarray], reference: Mapping[int, np.ndarray], q: float = 0.99,
                     n_boot: int = 2000, seed: int = 0, confidence: float = 0.95) -> Ratio:
    """Bootstrap of the q-quantile ratio that resamples whole repeats (paired by repeat),
    not requests: requests within one window are not independent of each other."""
    common = sorted(set(candidate) & set(reference))
    common = [k for k in common if len(candidate[k]) and len(reference[k])]
    if len(common) < 2:
        return Ratio(None, None, None, "fewer than 2 paired repeats")
    rng = np.random.default_rng(seed)
    per = np.array([[np.quantile(candidate[k], q), np.quantile(reference[k], q)] for k in common])
    point = math.exp(float(np.mean(np.log(per[:, 0] / per[:, 1]))))
    idx = rng.integers(0, len(common), size=(n_boot, len(common)))
    logs = np.log(per[:, 0] / per[:, 1])[idx].mean(axis=1)
    lo, hi = np.quantile(logs, [0.5 - confidence / 2, 0.5 + confidence / 2])
    return Ratio(point, math.exp(float(lo)), math.exp(float(hi)), "", len(common), "repeat bootstrap")
