"""Is a latency difference real? Tests on the raw per-request samples.

Two tests, both on client samples pooled over repeats:
- Mann-Whitney U (two-sided): do the two latency distributions differ in location?
- Bootstrap percentile interval of the p99 ratio (candidate / reference): does the
  tail move, and by how much?
Pooling treats requests as independent, which they are not quite (requests within one
window share the machine's state), so with tens of thousands of samples tiny shifts
come out "significant"; the report therefore shows the effect size next to every
p-value, and the repeat-level interval (bench.analysis.ratios) as the conservative check.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as st

MIN_SAMPLES = 20
MAX_BOOTSTRAP_SAMPLES = 50_000  # per side; a random subset keeps the bootstrap affordable


@dataclass(frozen=True)
class Significance:
    n_reference: int
    n_candidate: int
    mw_pvalue: float | None
    p50_ratio: float | None
    p99_ratio: float | None
    p99_ratio_low: float | None
    p99_ratio_high: float | None
    alpha: float
    note: str = ""

    @property
    def location_significant(self) -> bool:
        return self.mw_pvalue is not None and self.mw_pvalue < self.alpha

    @property
    def p99_significant(self) -> bool:
        lo, hi = self.p99_ratio_low, self.p99_ratio_high
        return lo is not None and hi is not None and (lo > 1 or hi < 1)

    def verdict(self) -> str:
        if self.note:
            return self.note
        parts = []
        parts.append("distributions differ" if self.location_significant else "no significant shift")
        parts.append("p99 differs" if self.p99_significant else "p99 not significantly different")
        return f"{'; '.join(parts)} (Mann-Whitney p={self.mw_pvalue:.2g})"


def _subset(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return rng.choice(x, MAX_BOOTSTRAP_SAMPLES, replace=False) if len(x) > MAX_BOOTSTRAP_SAMPLES else x


def bootstrap_ratio(candidate: np.ndarray, reference: np.ndarray, q: float, n_boot: int, confidence: float,
                    rng: np.random.Generator) -> tuple[float, float]:
    """Percentile-bootstrap interval of quantile(candidate, q) / quantile(reference, q)."""
    a, b = _subset(candidate, rng), _subset(reference, rng)
    ratios = np.empty(n_boot)
    for i in range(n_boot):
        qa = np.quantile(rng.choice(a, len(a)), q)
        qb = np.quantile(rng.choice(b, len(b)), q)
        ratios[i] = qa / qb if qb > 0 else np.inf
    tail = (1 - confidence) / 2
    low, high = np.quantile(ratios, [tail, 1 - tail])
    return float(low), float(high)


def latency_significance(reference_ms: np.ndarray, candidate_ms: np.ndarray, alpha: float = 0.05, n_boot: int = 1000,
                 seed: int = 0) -> Significance:
    ref = np.asarray(reference_ms, dtype=float)
    cand = np.asarray(candidate_ms, dtype=float)
    ref, cand = ref[~np.isnan(ref)], cand[~np.isnan(cand)]
    if len(ref) < MIN_SAMPLES or len(cand) < MIN_SAMPLES:
        return Significance(len(ref), len(cand), None, None, None, None, None, alpha,
                            f"too few raw samples (need {MIN_SAMPLES} each): no significance test")
    p = float(st.mannwhitneyu(cand, ref, alternative="two-sided").pvalue)
    p50 = _safe_div(np.quantile(cand, 0.5), np.quantile(ref, 0.5))
    p99 = _safe_div(np.quantile(cand, 0.99), np.quantile(ref, 0.99))
    rng = np.random.default_rng(seed)
    low, high = bootstrap_ratio(cand, ref, 0.99, n_boot, 1 - alpha, rng)
    return Significance(len(ref), len(cand), p, p50, p99, low, high, alpha)


def _safe_div(a: float, b: float) -> float | None:
    if b == 0:
        return None if a == 0 else math.inf
    return float(a / b)
