"""Reference vs candidate: every figure's mean with its interval, the ratio with an interval
over repeats (paired by repeat within a run, Welch across runs: bench.analysis.paired), and
the repeat-level bootstrap of the latency percentiles from raw samples."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bench.analysis import gates as gates_mod
from bench.analysis.paired import Ratio, paired_ratio, welch_ratio
from bench.analysis.significance import Significance, latency_significance
from bench.analysis.stats import Estimate, estimate, ok_rows

COMPARE_METRICS = (
    "client_p50_ms", "client_p99_ms", "server_p50_ms", "server_p99_ms", "achieved_rps", "cpu_ms_per_1k",
    "rss_peak_bytes", "bytes_per_request", "events_per_request", "webhook_batches_per_s",
    "webhook_events_per_batch", "webhook_lag_p99_ms", "drops", "error_rate", "canary_leaks",
)

SamplesFor = Callable[[str], dict[int, np.ndarray]]  # variant id -> client ms per repeat


@dataclass(frozen=True)
class MetricRow:
    metric: str
    reference: Estimate
    candidate: Estimate
    ratio: Ratio
    per_repeat: tuple[float, ...] = ()  # the candidate's value in each measured repeat


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

    def gate_inputs(self) -> dict[tuple[str, bool], gates_mod.GateInput]:
        out: dict[tuple[str, bool], gates_mod.GateInput] = {}
        for r in self.rows:
            c = r.candidate
            out[(r.metric, False)] = gates_mod.GateInput(list(r.per_repeat), c.ci_low, c.ci_high, c.mean, c.n)
            out[(r.metric, True)] = gates_mod.GateInput([], r.ratio.low, r.ratio.high, r.ratio.value, r.ratio.n)
        return out

    def check(self, gates: Sequence[gates_mod.Gate]) -> list[gates_mod.GateResult]:
        subject = f"{self.reference} -> {self.candidate}"
        return gates_mod.evaluate_all(list(gates), subject, self.gate_inputs())


def _by_repeat(frame: pd.DataFrame, metric: str) -> dict[int, float | None]:
    if metric not in frame or "repeat" not in frame:
        return {}
    return {int(r): (None if pd.isna(v) else float(v)) for r, v in zip(frame["repeat"], frame[metric])}


def ratio_of(candidate: pd.DataFrame, reference: pd.DataFrame, metric: str, paired: bool) -> Ratio:
    """Paired by repeat number (same run, interleaved), else unpaired (Welch)."""
    cand, ref = _by_repeat(candidate, metric), _by_repeat(reference, metric)
    if paired:
        return paired_ratio(cand, ref)
    cv = [v for v in cand.values() if v is not None]
    rv = [v for v in ref.values() if v is not None]
    if not cv or not rv:
        return Ratio(None, None, None, "not measured")
    if min(cv + rv) <= 0:
        return paired_ratio(dict(enumerate(cv)), {k + len(cv): v for k, v in enumerate(rv)})
    return welch_ratio(cv, rv)


def compare_rows(
    reference: pd.DataFrame,
    candidate: pd.DataFrame,
    labels: tuple[str, str],
    reference_ms: dict[int, np.ndarray] | None = None,
    candidate_ms: dict[int, np.ndarray] | None = None,
    metrics: Sequence[str] = COMPARE_METRICS,
    seed: int = 0,
    n_boot: int = 1000,
    paired: bool = True,
) -> Comparison:
    """Rows are the repeats (frame rows) of one variant each; samples are raw client ms per repeat.
    ``paired``: both sides come from the same run, so repeat k of each shared machine state."""
    ref, cand = ok_rows(reference), ok_rows(candidate)
    from bench.results.store import METRIC_COLUMNS

    # Every figure a gate can name is compared, not only the ones a table shows.
    rows = []
    for m in [*metrics, *(c for c in METRIC_COLUMNS if c not in metrics)]:
        rv = ref[m] if m in ref else pd.Series(dtype=float)
        cv = cand[m] if m in cand else pd.Series(dtype=float)
        rows.append(MetricRow(m, estimate(rv), estimate(cv), ratio_of(cand, ref, m, paired),
                              tuple(float(x) for x in cv.dropna())))
    sig = None
    if reference_ms is not None and candidate_ms is not None:
        if not paired:  # repeats of two runs are not pairs: renumber so none match
            candidate_ms = {k + 10_000: v for k, v in candidate_ms.items()}
        sig = latency_significance(reference_ms, candidate_ms, seed=seed, n_boot=n_boot)
    return Comparison(labels[0], labels[1], tuple(rows), sig)


def load_key(row: pd.Series) -> str:
    """A variant's offered load: "r<rate>" or "c<capacity fraction>" (open loop), or "closed";
    with a growth collection "|n<count>-s<size>k" follows, and with a kubernetes axis "|<release>",
    so variants pair with the baseline that read the same collection on the same release."""
    key = _offered_key(row)
    count, size = row.get("objects_count"), row.get("object_size_kb")
    if count is not None and not pd.isna(count) and size is not None and not pd.isna(size):
        key += f"|n{int(count)}-s{float(size):g}k"
    nodes = row.get("nodes")
    if nodes is not None and not pd.isna(nodes):
        key += f"|nodes{int(nodes)}"
    release = row.get("kubernetes")
    if isinstance(release, str) and release:
        key += f"|{release}"
    return key


def _offered_key(row: pd.Series) -> str:
    if row.get("mode") == "open":
        frac = row.get("rate_fraction")
        if frac is not None and not pd.isna(frac):
            return f"c{frac:g}"
        rate = row.get("target_rps")
        return f"r{rate:g}" if rate is not None and not pd.isna(rate) else "open"
    return "closed"


def baseline_for(frame: pd.DataFrame, profile: str, load: str | None = None) -> str | None:
    """The no-audit variant of ``profile`` at the same offered load (any load if None)."""
    base = frame[(frame["is_baseline"] == True) & (frame["profile"] == profile)]  # noqa: E712
    if load is not None and not base.empty:
        base = base[base.apply(load_key, axis=1) == load]
    return None if base.empty else str(base["variant_id"].iloc[0])


def against_baseline(frame: pd.DataFrame, samples_for: SamplesFor | None = None, seed: int = 0,
                     n_boot: int = 1000) -> list[Comparison]:
    """Every audited variant against the no-audit baseline of the same traffic profile."""
    out = []
    for vid, g in frame.groupby("variant_id", sort=False):
        if bool(g["is_baseline"].iloc[0]):
            continue
        base = baseline_for(frame, str(g["profile"].iloc[0]), load_key(g.iloc[0]))
        if base is None:
            continue
        out.append(compare_variants(frame, base, str(vid), samples_for, seed, n_boot, frame_b=frame))
    return out


def compare_variants(frame_a: pd.DataFrame, ref_id: str, cand_id: str, samples_for: SamplesFor | None = None,
                     seed: int = 0, n_boot: int = 1000, frame_b: pd.DataFrame | None = None,
                     samples_for_b: SamplesFor | None = None, labels: tuple[str, str] | None = None) -> Comparison:
    """Variant ``ref_id`` of frame_a against ``cand_id`` of frame_b (default: the same run)."""
    paired = frame_b is None or frame_b is frame_a
    frame_b = frame_a if frame_b is None else frame_b
    samples_for_b = samples_for_b or samples_for
    ref_ms = samples_for(ref_id) if samples_for else None
    cand_ms = samples_for_b(cand_id) if samples_for_b else None
    return compare_rows(frame_a[frame_a["variant_id"] == ref_id], frame_b[frame_b["variant_id"] == cand_id],
                        labels or (ref_id, cand_id), ref_ms, cand_ms, seed=seed, n_boot=n_boot, paired=paired)
