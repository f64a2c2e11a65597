"""`auditbench plan`: from a run's own noise, the repeats and window that detect a difference.

For each figure, the noise is the standard deviation of the per-repeat log ratios of every
audited variant against its baseline (bench.analysis.paired), the quantity a paired
comparison's interval is built from; the median over the run's comparisons is used (and
the worst shown). A run without a baseline uses each variant's repeat-to-repeat variation
(sd of log values) times sqrt(2), as an unpaired comparison would see it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bench.analysis.compare import against_baseline
from bench.analysis.power import PlanRow, plan_row
from bench.analysis.stats import ok_rows

PLAN_METRICS = ("cpu_ms_per_1k", "alloc_bytes_per_1k", "bytes_per_request", "client_p50_ms", "client_p99_ms",
                "server_p99_ms")


@dataclass(frozen=True)
class Noise:
    metric: str
    sd_log: float  # median over comparisons
    worst: float
    pairs: int
    comparisons: int


def noise(frame: pd.DataFrame, metrics: Sequence[str] = PLAN_METRICS) -> list[Noise]:
    comps = against_baseline(frame)
    out = []
    for m in metrics:
        sds = [(c.row(m).ratio.sd_log, c.row(m).ratio.n) for c in comps
               if c.row(m) and c.row(m).ratio.sd_log is not None]
        if not sds:
            sds = _unpaired(frame, m)
        if sds:
            values = [s for s, _ in sds]
            out.append(Noise(m, float(statistics.median(values)), max(values), min(n for _, n in sds), len(sds)))
    return out


def _unpaired(frame: pd.DataFrame, metric: str) -> list[tuple[float, int]]:
    out = []
    for _, g in ok_rows(frame).groupby("variant_id"):
        v = g[metric].dropna() if metric in g else pd.Series(dtype=float)
        v = v[v > 0]
        if len(v) >= 2:
            out.append((float(np.log(v).std(ddof=1)) * math.sqrt(2), len(v)))
    return out


def plan(frame: pd.DataFrame, delta: float, seconds_per_variant: float, window_s: float,
         metrics: Sequence[str] = PLAN_METRICS, longer: float = 2.0) -> list[tuple[Noise, PlanRow]]:
    overhead = max(seconds_per_variant - window_s, 0.0)
    return [(n, plan_row(n.metric, n.sd_log, n.pairs, delta, window_s, seconds_per_variant, overhead, longer))
            for n in noise(frame, metrics)]
