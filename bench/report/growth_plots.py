"""Growth figures as PNG files (matplotlib Agg), from bench.report.growth tables."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.report.growth import NO_AUDIT
from bench.report.plots import _save, plt

_MB = 1 << 20


def _order(curves: list[str]) -> list[str]:
    return sorted(curves, key=lambda c: (c != NO_AUDIT, c))


def collection_memory(table: pd.DataFrame, path: Path) -> Path | None:
    """apiserver heap and RSS, LIST latency and audit bytes per LIST against the LIST's size,
    one line per curve (policy): the #131720 class of problem at a glance."""
    if table.empty or table["list_bytes"].nunique() < 2:
        return None
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.4))
    panels = [
        (axes[0][0], "heap_peak", "heap_mean", _MB, "apiserver heap in use, MiB (solid peak, dashed mean)"),
        (axes[0][1], "rss_peak", "rss_mean", _MB, "apiserver RSS, MiB (solid peak, dashed mean)"),
        (axes[1][0], "list_p99_ms", "list_p50_ms", 1, "unpaged LIST latency, ms (solid p99, dashed p50)"),
        (axes[1][1], "audit_per_list", None, _MB, "audit log bytes per unpaged LIST, MiB"),
    ]
    for curve in _order(list(table["curve"].unique())):
        d = table[table["curve"] == curve].sort_values("list_bytes")
        x = d["list_bytes"] / _MB
        for ax, main, second, scale, _label in panels:
            if d[main].notna().any():
                line = ax.plot(x, d[main] / scale, marker="o", label=curve)[0]
                if second and d[second].notna().any():
                    ax.plot(x, d[second] / scale, linestyle="--", marker=".", color=line.get_color())
    wide = table["list_bytes"].max() / max(table["list_bytes"].min(), 1) > 20
    for ax, _main, _second, _scale, label in panels:
        ax.set_xlabel("unpaged LIST response of the collection, MiB (JSON, measured)")
        ax.set_ylabel(label, fontsize=8)
        if wide:
            ax.set_xscale("log")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle("How the apiserver grows with the LIST it serves, per audit policy (means over repeats)")
    return _save(fig, path)
