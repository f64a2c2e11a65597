"""Does the latency tail move? Raw client samples, resampled by repeat.

Requests within one window are not independent of each other (they share that window's
machine state), so pooling tens of thousands of them across repeats makes tiny shifts look
"significant". Here each repeat contributes its own p50 and p99 (over its successful,
non-watch requests in the window), candidate and reference are paired by repeat, and the
interval of the ratio comes from resampling whole repeats (bench.analysis.paired).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from bench.analysis.paired import Ratio, repeat_bootstrap

MIN_SAMPLES = 20  # per repeat and side


@dataclass(frozen=True)
class Significance:
    repeats: int
    p50: Ratio
    p99: Ratio
    note: str = ""

    @property
    def p99_ratio(self) -> float | None:
        return self.p99.value

    @property
    def p99_ratio_low(self) -> float | None:
        return self.p99.low

    @property
    def p99_ratio_high(self) -> float | None:
        return self.p99.high

    @property
    def p99_significant(self) -> bool:
        lo, hi = self.p99.low, self.p99.high
        return lo is not None and hi is not None and (lo > 1 or hi < 1)

    def verdict(self) -> str:
        if self.note:
            return self.note
        moved = "p99 differs" if self.p99_significant else "p99 not significantly different"
        return f"{moved} (repeat bootstrap over {self.repeats} paired repeats)"


def latency_significance(reference: Mapping[int, np.ndarray], candidate: Mapping[int, np.ndarray],
                         n_boot: int = 2000, seed: int = 0) -> Significance:
    """``reference``/``candidate``: client ms per repeat (the same request set on both sides)."""
    ref = {k: np.asarray(v, dtype=float) for k, v in reference.items() if len(v) >= MIN_SAMPLES}
    cand = {k: np.asarray(v, dtype=float) for k, v in candidate.items() if len(v) >= MIN_SAMPLES}
    common = sorted(set(ref) & set(cand))
    if len(common) < 2:
        empty = Ratio(None, None, None, "fewer than 2 paired repeats")
        return Significance(len(common), empty, empty,
                            f"{len(common)} paired repeat(s) with {MIN_SAMPLES}+ samples: no interval")
    p50 = repeat_bootstrap(cand, ref, 0.50, n_boot, seed)
    p99 = repeat_bootstrap(cand, ref, 0.99, n_boot, seed)
    return Significance(len(common), p50, p99)
