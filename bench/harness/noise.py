"""`auditbench harness noise`: how much the low-noise cost figures vary from repeat to repeat.

Runs one audited variant N times at a fixed open-loop rate (a scenario like any other, so
its results land in results/<run-id>/) and prints each figure's coefficient of variation
over the repeats next to its goal: apiserver CPU per request <= 3%, heap bytes allocated
per request <= 2%, audit bytes per request <= 1%. Latency percentiles are shown for
comparison; they are not low-noise figures.

It also checks the comparison method on this machine's real noise (an A/A test): the repeats
are of one variant, so any split of them into "candidate" and "baseline" pairs should be
called different (a paired 95% interval that excludes 1, bench.analysis.paired) in about 5%
of splits. Random splits of the same repeats are not independent comparisons: the rate
estimates how the method behaves under this noise's distribution, not a fresh calibration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

GOALS = {"cpu_ms_per_1k": 0.03, "alloc_bytes_per_1k": 0.02, "bytes_per_request": 0.01}
SHOWN = ("cpu_ms_per_1k", "alloc_bytes_per_1k", "bytes_per_request", "client_p50_ms", "client_p99_ms")
LABELS = {"cpu_ms_per_1k": "apiserver CPU-ms per 1k requests", "alloc_bytes_per_1k": "heap bytes allocated per 1k requests",
          "bytes_per_request": "audit bytes per request", "client_p50_ms": "client p50 ms",
          "client_p99_ms": "client p99 ms"}


def scenario(policy: Path, rate: float, duration: str, repeats: int, profile: str, seed: int) -> dict[str, Any]:
    return {"name": "noise", "description": "repeat-to-repeat noise of one variant at a fixed rate (auditbench harness noise)",
            "policies": [str(policy.resolve())], "baseline": False,
            "audit": {"log": {"enabled": [True]}, "webhook": {"enabled": [False]}},
            "traffic": {"profiles": [profile], "mode": "open", "target_rps": rate, "duration": duration, "warmup": "3s"},
            "repeats": repeats, "seed": seed}


@dataclass(frozen=True)
class Row:
    metric: str
    n: int
    mean: float | None
    cv: float | None
    goal: float | None

    @property
    def met(self) -> bool | None:
        return None if self.goal is None or self.cv is None else self.cv <= self.goal


def noise_rows(frame: pd.DataFrame) -> list[Row]:
    from bench.analysis.stats import ok_rows

    ok = ok_rows(frame)
    rows = []
    for m in SHOWN:
        v = ok[m].dropna() if m in ok else pd.Series(dtype=float)
        mean = float(v.mean()) if len(v) else None
        cv = float(v.std(ddof=1) / abs(v.mean())) if len(v) >= 2 and v.mean() else None
        rows.append(Row(m, int(len(v)), mean, None if cv is None or math.isnan(cv) else cv, GOALS.get(m)))
    return rows


AA_PAIRS = 3  # the fewest repeats a verdict needs (bench.analysis.verdict.MIN_REPEATS)


@dataclass(frozen=True)
class AARow:
    metric: str
    splits: int
    different: int  # splits whose paired interval excluded 1

    @property
    def rate(self) -> float | None:
        return self.different / self.splits if self.splits else None


def aa_different(values: list[float], pairs: int = AA_PAIRS, splits: int = 2000, seed: int = 0,
                 metric: str = "") -> AARow:
    """Split the repeats of one variant at random into ``pairs`` (candidate, baseline) pairs,
    ``splits`` times, and count how often the paired ratio's 95% interval excludes 1."""
    from bench.analysis.paired import paired_ratio

    if len(values) < 2 * pairs:
        return AARow(metric, 0, 0)
    rng = np.random.default_rng(seed)
    different = 0
    arr = np.asarray(values, dtype=float)
    for _ in range(splits):
        pick = rng.choice(len(arr), size=2 * pairs, replace=False)
        cand = {k: float(arr[pick[2 * k]]) for k in range(pairs)}
        ref = {k: float(arr[pick[2 * k + 1]]) for k in range(pairs)}
        r = paired_ratio(cand, ref)
        if r.low is not None and r.high is not None and not (r.low <= 1.0 <= r.high):
            different += 1
    return AARow(metric, splits, different)


def aa_rows(frame: pd.DataFrame, pairs: int = AA_PAIRS, splits: int = 2000, seed: int = 0) -> list[AARow]:
    from bench.analysis.stats import ok_rows

    ok = ok_rows(frame)
    return [aa_different([float(x) for x in ok[m].dropna()] if m in ok else [], pairs, splits, seed, metric=m)
            for m in SHOWN]
