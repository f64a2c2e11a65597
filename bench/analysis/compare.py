"""Reference vs candidate: every figure's mean with its interval, the ratio with a
Fieller interval over repeats, and the raw-sample significance test for latency."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bench.analysis import gates as gates_mod
from bench.analysis.ratios import Ratio, fieller
from bench.analysis.significance import Significance, latency_significance
from bench.analysis.stats import Estimate, estimate, ok_rows

COMPARE_METRICS = (
    "client_p50_ms", "client_p99_ms", "server_p50_ms", "server_p99_ms", "achieved_rps", "cpu_ms_per_1k",
    "rss_peak_bytes", "bytes_per_request", "events_per_request", "webhook_batches_per_s",
    "webhook_events_per_batch", "webhook_lag_p99_ms", "drops", "error_rate", "canary_leaks",
)

SamplesFor = Callable[[str], np.ndarray]


@dataclass(frozen=True)
class MetricRow:
    metric: str
    reference: Estimate
    candidate: Estimate
    ratio: Ratio


@dataclass(frozen=True)
class Comparison:
    reference: str
    candidate: str
    rows: tuple[MetricRow, ...]
    latency: Significance | None

    def row(self, metric: str) -> MetricRow | None:
        return next((r for r in self.rows if r.metric == metric), None)

    def values(self) -> dict[str, float | None]:
        return {r.metric: r.candidate.mean for r in self.rows}

    def ratios(self) -> dict[str, float | None]:
        return {r.metric: r.ratio.value for r in self.rows}

    def check(self, gates: Sequence[gates_mod.Gate]) -> list[gates_mod.GateResult]:
        subject = f"{self.reference} -> {self.candidate}"
        return gates_mod.evaluate_all(list(gates), subject, self.values(), self.ratios())


def compare_rows(
    reference: pd.DataFrame,
    candidate: pd.DataFrame,
    labels: tuple[str, str],
    reference_ms: np.ndarray | None = None,
    candidate_ms: np.ndarray | None = None,
    metrics: Sequence[str] = COMPARE_METRICS,
    seed: int = 0,
    n_boot: int = 1000,
) -> Comparison:
    """Rows are the repeats (frame rows) of one variant each; samples are raw client ms."""
    ref, cand = ok_rows(reference), ok_rows(candidate)
    from bench.results.store import METRIC_COLUMNS

    # Every figure a gate can name is compared, not only the ones a table shows.
    rows = []
    for m in [*metrics, *(c for c in METRIC_COLUMNS if c not in metrics)]:
        rv = ref[m] if m in ref else pd.Series(dtype=float)
        cv = cand[m] if m in cand else pd.Series(dtype=float)
        rows.append(MetricRow(m, estimate(rv), estimate(cv), fieller(list(cv), list(rv))))
    sig = None
    if reference_ms is not None and candidate_ms is not None:
        sig = latency_significance(reference_ms, candidate_ms, seed=seed, n_boot=n_boot)
    return Comparison(labels[0], labels[1], tuple(rows), sig)


def baseline_for(frame: pd.DataFrame, profile: str) -> str | None:
    base = frame[(frame["is_baseline"] == True) & (frame["profile"] == profile)]  # noqa: E712
    return None if base.empty else str(base["variant_id"].iloc[0])


def against_baseline(frame: pd.DataFrame, samples_for: SamplesFor | None = None, seed: int = 0,
                     n_boot: int = 1000) -> list[Comparison]:
    """Every audited variant against the no-audit baseline of the same traffic profile."""
    out = []
    for vid, g in frame.groupby("variant_id", sort=False):
        if bool(g["is_baseline"].iloc[0]):
            continue
        base = baseline_for(frame, str(g["profile"].iloc[0]))
        if base is None:
            continue
        out.append(compare_variants(frame, base, str(vid), samples_for, seed, n_boot, frame_b=frame))
    return out


def compare_variants(frame_a: pd.DataFrame, ref_id: str, cand_id: str, samples_for: SamplesFor | None = None,
                     seed: int = 0, n_boot: int = 1000, frame_b: pd.DataFrame | None = None,
                     samples_for_b: SamplesFor | None = None, labels: tuple[str, str] | None = None) -> Comparison:
    """Variant ``ref_id`` of frame_a against ``cand_id`` of frame_b (default: the same run)."""
    frame_b = frame_a if frame_b is None else frame_b
    samples_for_b = samples_for_b or samples_for
    ref_ms = samples_for(ref_id) if samples_for else None
    cand_ms = samples_for_b(cand_id) if samples_for_b else None
    return compare_rows(frame_a[frame_a["variant_id"] == ref_id], frame_b[frame_b["variant_id"] == cand_id],
                        labels or (ref_id, cand_id), ref_ms, cand_ms, seed=seed, n_boot=n_boot)
