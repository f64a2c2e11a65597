"""Report figures as PNG files (matplotlib, Agg backend: no display needed).

Each function takes computed data and an output path, returns the path, or None when
the run has nothing to plot for it (the report then leaves the figure out).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: headless CI machines have no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bench import atomic  # noqa: E402
from bench.results.schema import MEASURED  # noqa: E402
from bench.analysis.compare import Comparison  # noqa: E402

DPI = 110


def _save(fig: plt.Figure, path: Path) -> Path:
    import io

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=DPI)
    plt.close(fig)
    return atomic.write_bytes(path, buf.getvalue())


def latency_cdf(samples: pd.DataFrame, path: Path, profile: str, variant_ids: Sequence[str] | None = None) -> Path | None:
    """Empirical CDF of client latency per variant (raw samples of every repeat's window)."""
    ids = set(variant_ids) if variant_ids is not None else {v for v in samples["variant_id"].unique()
                                                            if f".{profile}" in str(v)}
    s = samples[samples["variant_id"].isin(ids)]
    if s.empty:
        return None
    fig, ax = plt.subplots(figsize=(8, 4.8))
    for vid, g in s.groupby("variant_id", sort=True):
        x = np.sort(g["ms"].to_numpy())
        y = np.arange(1, len(x) + 1) / len(x)
        ax.plot(x, y, label=str(vid).replace(f".{profile}", ""), linewidth=1.2)
    ax.set_xscale("log")
    ax.set_xlabel("client latency (ms, log scale)")
    ax.set_ylabel("fraction of requests")
    ax.set_title(f"Latency CDF, profile {profile}")
    ax.axhline(0.99, color="grey", linewidth=0.6, linestyle=":")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, path)


def latency_vs_rate(frame: pd.DataFrame, path: Path, profile: str) -> Path | None:
    """p50/p99 client latency, apiserver CPU and heap allocations per request against the
    offered open-loop rate, one line per variant family (policy and audit settings)."""
    ok = frame[(frame["status"].isin(MEASURED)) & (frame["profile"] == profile) & (frame.get("mode") == "open")]
    ok = ok[ok["target_rps"].notna()] if "target_rps" in ok else ok.iloc[0:0]
    if ok.empty or ok["target_rps"].nunique() < 2:
        return None
    family = ok["variant_id"].str.replace(r"\.(r|c)[0-9.]+$", "", regex=True).str.replace(f".{profile}", "", regex=False)
    g = ok.assign(family=family).groupby(["family", "target_rps"])
    means = g[["client_p50_ms", "client_p99_ms", "cpu_ms_per_1k", "alloc_bytes_per_1k"]].mean().reset_index()
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    for fam, d in means.groupby("family"):
        d = d.sort_values("target_rps")
        line = axes[0].plot(d["target_rps"], d["client_p99_ms"], marker="o", label=f"{fam} p99")[0]
        axes[0].plot(d["target_rps"], d["client_p50_ms"], marker=".", linestyle="--", color=line.get_color())
        axes[1].plot(d["target_rps"], d["cpu_ms_per_1k"] / 1e6, marker="o", label=fam)
        axes[2].plot(d["target_rps"], d["alloc_bytes_per_1k"] / 1e3 / 1e3, marker="o", label=fam)
    axes[0].set_ylabel("client latency ms (solid p99, dashed p50)")
    axes[1].set_ylabel("apiserver CPU-seconds per request")
    axes[2].set_ylabel("heap allocated per request (MB)")
    for ax in axes:
        ax.set_xlabel("offered rate (requests/s)")
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=6)
    fig.suptitle(f"Cost against offered load, profile {profile} (means over repeats)")
    return _save(fig, path)


def overhead_bars(comparisons: Sequence[Comparison], path: Path, metric: str = "client_p99_ms",
                  label: str = "p99 latency") -> Path | None:
    """Ratio to the baseline per variant with its Fieller interval as error bars."""
    rows = [(c.candidate, c.row(metric).ratio) for c in comparisons if c.row(metric) and c.row(metric).ratio.value]
    rows = [(n, r) for n, r in rows if np.isfinite(r.value)]
    if not rows:
        return None
    names = [n for n, _ in rows]
    vals = np.array([r.value for _, r in rows], dtype=float)
    low = np.array([r.value - r.low if r.low is not None else 0.0 for _, r in rows])
    high = np.array([r.high - r.value if r.high is not None else 0.0 for _, r in rows])
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.5))
    y = np.arange(len(rows))
    ax.barh(y, vals - 1, left=1, xerr=[low, high], color="#4c72b0", capsize=3)
    ax.axvline(1, color="black", linewidth=0.8)
    ax.set_yticks(y, names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(f"{label} relative to no audit (1 = same; bars: 95% interval over repeats)")
    ax.set_title(f"Overhead: {label}")
    ax.grid(True, axis="x", alpha=0.3)
    return _save(fig, path)


def stacked_per_request(frame: pd.DataFrame, prefix: str, path: Path, title: str, top: int = 8) -> Path | None:
    """Bytes per request split by the columns ``<prefix><key>`` (level or resource)."""
    cols = [c for c in frame.columns if c.startswith(prefix)]
    if not cols:
        return None
    ok = frame[frame["status"].isin(MEASURED)]
    means = ok.groupby("variant_id", sort=True)[[*cols, "requests"]].mean(numeric_only=True)
    per_req = means[cols].div(means["requests"], axis=0).fillna(0.0)
    per_req = per_req.loc[per_req.sum(axis=1) > 0]
    if per_req.empty:
        return None
    order = per_req.sum().sort_values(ascending=False).index
    keep, rest = list(order[:top]), list(order[top:])
    if rest:
        per_req = per_req[keep].assign(**{f"{prefix}other": per_req[rest].sum(axis=1)})
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(per_req) + 1.8))
    left = np.zeros(len(per_req))
    for col in per_req.columns:
        ax.barh(per_req.index, per_req[col], left=left, label=col.removeprefix(prefix))
        left += per_req[col].to_numpy()
    ax.invert_yaxis()
    ax.tick_params(axis="y", labelsize=7)
    ax.set_xlabel("audit log bytes per request")
    ax.set_title(title)
    ax.legend(fontsize=7)
    return _save(fig, path)


def webhook_batching(frame: pd.DataFrame, path: Path) -> Path | None:
    """Events per batch and delivery lag p99 against --audit-webhook-batch-max-wait."""
    ok = frame[frame["status"].isin(MEASURED) & (frame["webhook_mode"] == "batch")]
    ok = ok.dropna(subset=["webhook_batch_max_wait_s"])
    if ok.empty or ok["webhook_batch_max_wait_s"].nunique() < 2:
        return None
    waits = sorted(float(w) for w in ok["webhook_batch_max_wait_s"].unique())
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    for key, g in ok.groupby(["policy", "profile", "log_enabled"], sort=True):
        m = g.groupby("webhook_batch_max_wait_s")[["webhook_events_per_batch", "webhook_lag_p99_ms"]].mean()
        label = f"{key[0]} / {key[1]}" + (" + log" if key[2] else "")
        a1.plot(m.index, m["webhook_events_per_batch"], marker="o", label=label)
        a2.plot(m.index, m["webhook_lag_p99_ms"], marker="o", label=label)
    for ax, ylabel in ((a1, "events per batch (mean)"), (a2, "delivery lag p99 (ms)")):
        ax.set_xlabel("batch-max-wait (s)")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xticks(waits, [f"{w:g}s" for w in waits])
    a1.legend(fontsize=7)
    fig.suptitle("Webhook batching")
    return _save(fig, path)


def cpu_per_1k(summary: pd.DataFrame, path: Path) -> Path | None:
    """apiserver CPU-ms per 1,000 requests per variant with 95% intervals."""
    s = summary[(summary["metric"] == "cpu_ms_per_1k") & summary["mean"].notna()].sort_values("variant_id")
    if s.empty:
        return None
    err_low = (s["mean"] - s["ci_low"]).fillna(0.0).to_numpy()
    err_high = (s["ci_high"] - s["mean"]).fillna(0.0).to_numpy()
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(s) + 1.5))
    y = np.arange(len(s))
    ax.barh(y, s["mean"], xerr=[err_low, err_high], color="#55a868", capsize=3)
    ax.set_yticks(y, list(s["variant_id"]), fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("apiserver CPU-ms per 1,000 requests")
    ax.set_title("CPU cost")
    ax.grid(True, axis="x", alpha=0.3)
    return _save(fig, path)


def capacity_bars(names: Sequence[str], gb_per_day: Sequence[float | None], cores: Sequence[float | None],
                  path: Path, rate: float,
                  cores_intervals: Sequence[tuple[float, float] | None] | None = None) -> Path | None:
    if not names:
        return None
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 0.45 * len(names) + 1.8), sharey=True)
    y = np.arange(len(names))
    a1.barh(y, [g or 0.0 for g in gb_per_day], color="#4c72b0")
    values = [c or 0.0 for c in cores]
    ivs = list(cores_intervals) if cores_intervals is not None else [None] * len(names)
    # Error bars from each bar's 95% interval (none drawn where the run has no interval).
    err = np.array([[max(v - iv[0], 0.0), max(iv[1] - v, 0.0)] if iv else [0.0, 0.0]
                    for v, iv in zip(values, ivs)]).T
    a2.barh(y, values, color="#c44e52", xerr=err if any(ivs) else None, capsize=3)
    a2.axvline(0, color="black", linewidth=0.6)
    a1.set_yticks(y, list(names), fontsize=7)
    a1.invert_yaxis()
    a1.set_xlabel(f"audit log GB/day at {rate:g} req/s")
    a2.set_xlabel("added apiserver cores (95% interval)")
    for ax in (a1, a2):
        ax.grid(True, axis="x", alpha=0.3)
    fig.suptitle("Capacity projection")
    return _save(fig, path)
