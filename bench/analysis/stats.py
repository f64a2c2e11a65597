"""Per-variant summaries over repeats: mean, 95% t-interval, coefficient of variation.

Each repeat contributes one value per figure (its own p99, its own CPU-ms per 1k, ...);
the interval is over those repeat values, so it reflects run-to-run variation, which on
a small shared machine dominates the sampling error within a window.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as st

from bench.results.schema import MEASURED

CV_LIMIT = 0.05  # a figure whose repeats vary more than 5% is flagged unstable

# Figures summarized by default (columns of bench.results.store.load_frame).
SUMMARY_METRICS = (
    "client_p50_ms", "client_p99_ms", "server_p50_ms", "server_p99_ms", "achieved_rps",
    "cpu_ms_per_1k", "rss_peak_bytes", "bytes_per_request", "events_per_request",
    "webhook_batches_per_s", "webhook_events_per_batch", "webhook_lag_p99_ms", "drops",
    "error_rate", "loadgen_cpu_util", "canary_leaks",
)

DESCRIPTORS = (
    "policy", "profile", "is_baseline", "log_enabled", "log_mode", "log_maxsize", "log_maxbackup",
    "log_maxage", "webhook_enabled", "webhook_mode", "webhook_batch_max_wait_s", "webhook_batch_max_size",
    "webhook_batch_buffer_size", "webhook_throttle_enable", "webhook_throttle_qps",
)


@dataclass(frozen=True)
class Estimate:
    n: int
    mean: float | None
    std: float | None
    ci_low: float | None
    ci_high: float | None
    cv: float | None
    unstable: bool
    note: str = ""


def clean(values: Sequence[float | None] | pd.Series) -> np.ndarray:
    arr = np.asarray([np.nan if v is None else v for v in values], dtype=float)
    return arr[~np.isnan(arr)]


def t_interval(mean: float, std: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    half = st.t.ppf(0.5 + confidence / 2, n - 1) * std / math.sqrt(n)
    return mean - half, mean + half


def estimate(values: Sequence[float | None] | pd.Series, confidence: float = 0.95, cv_limit: float = CV_LIMIT) -> Estimate:
    x = clean(values)
    n = len(x)
    if n == 0:
        return Estimate(0, None, None, None, None, None, False, "not measured")
    mean = float(x.mean())
    if n == 1:
        return Estimate(1, mean, None, None, None, None, False, "1 repeat: no interval")
    std = float(x.std(ddof=1))
    low, high = t_interval(mean, std, n, confidence)
    cv = std / abs(mean) if mean != 0 else (0.0 if std == 0 else None)
    unstable = cv is not None and cv > cv_limit
    return Estimate(n, mean, std, low, high, cv, unstable, f"CV {cv:.1%} > {cv_limit:.0%}" if unstable else "")


def ok_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["status"].isin(MEASURED)] if "status" in frame else frame


def variant_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per variant: its settings and how many repeats are ok / failed."""
    rows = []
    for vid, g in frame.groupby("variant_id", sort=False):
        first = g.iloc[0]
        row = {"variant_id": vid, **{k: first.get(k) for k in DESCRIPTORS if k in g}}
        row["repeats_ok"] = int(g["status"].isin(MEASURED).sum())
        row["repeats_failed"] = int((~g["status"].isin(MEASURED)).sum())
        rows.append(row)
    return pd.DataFrame(rows)


def summarize(frame: pd.DataFrame, metrics: Sequence[str] = SUMMARY_METRICS, confidence: float = 0.95) -> pd.DataFrame:
    """Long table: variant_id, metric, n, mean, std, ci_low, ci_high, cv, unstable, note."""
    rows = []
    ok = ok_rows(frame)
    for vid, g in ok.groupby("variant_id", sort=False):
        for m in metrics:
            est = estimate(g[m] if m in g else [], confidence)
            rows.append({"variant_id": vid, "metric": m, **est.__dict__})
    cols = ["variant_id", "metric", "n", "mean", "std", "ci_low", "ci_high", "cv", "unstable", "note"]
    return pd.DataFrame(rows, columns=cols)


def means(summary: pd.DataFrame) -> pd.DataFrame:
    """variant × metric table of means."""
    return summary.pivot(index="variant_id", columns="metric", values="mean")
