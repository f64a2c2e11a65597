"""Growth figures as PNG files (matplotlib Agg), from bench.report.growth tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from bench.report.growth import NO_AUDIT
from bench.report.plots import _save, plt

_MB = 1 << 20


def _order(curves: list[str]) -> list[str]:
    return sorted(curves, key=lambda c: (c != NO_AUDIT, c))


def _colors(curves: list[str]) -> dict[str, Any]:
    """One color per curve in every panel (a panel without a curve's data keeps the others' colors)."""
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {c: cycle[i % len(cycle)] for i, c in enumerate(_order(curves))}


def _log_x(ax: Any, values: Any) -> None:
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(sorted(set(values))))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:.3g}"))


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
        (axes[1][1], "audit_per_list", None, _MB, "audit log bytes per unpaged LIST event, MiB"),
    ]
    colors = _colors(list(table["curve"].unique()))
    for curve in _order(list(table["curve"].unique())):
        d = table[table["curve"] == curve].sort_values("list_bytes")
        x = d["list_bytes"] / _MB
        for ax, main, second, scale, _label in panels:
            if d[main].notna().any():
                ax.plot(x, d[main] / scale, marker="o", label=curve, color=colors[curve])
                if second and d[second].notna().any():
                    ax.plot(x, d[second] / scale, linestyle="--", marker=".", color=colors[curve])
    wide = table["list_bytes"].max() / max(table["list_bytes"].min(), 1) > 20
    for ax, _main, _second, _scale, label in panels:
        ax.set_xlabel("unpaged LIST response of the collection, MiB (JSON, measured)")
        ax.set_ylabel(label, fontsize=8)
        if wide:
            _log_x(ax, table["list_bytes"] / _MB)
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle("How the apiserver grows with the LIST it serves, per audit policy (means over repeats)")
    return _save(fig, path)


def soak_timeline(results: list, path: Path) -> Path | None:
    """Heap, goroutines, receiver connections, backlog and drops, and request p99, second by
    second from the window's start, the fault stretch shaded; one line per variant (its first
    repeat)."""
    from bench.report.growth import soak_results, webhook_setting

    def webhook_label(r: Any) -> str:
        return f"{r.variant_id} ({webhook_setting(r)})"

    firsts: dict[str, Any] = {}
    for r in soak_results(results):
        firsts.setdefault(r.variant_id, r)
    if not firsts:
        return None
    fig, axes = plt.subplots(5, 1, figsize=(11, 13), sharex=True)
    for vid, r in sorted(firsts.items()):
        t0 = r.window.start
        pts = [p for p in r.series["points"] if r.window.start - 2 <= p["t"] <= r.window.end + 2]

        def xy(get: Any, pts: list = pts, t0: float = t0) -> tuple[list[float], list[float]]:
            """The points that carry the value (a /metrics point or a /proc point)."""
            got = [(p["t"] - t0, get(p)) for p in pts if get(p) is not None]
            return [g[0] for g in got], [float(g[1]) for g in got]

        def key(name: str, scale: float = 1.0) -> Any:
            return lambda p: (p[name] / scale) if p.get(name) is not None else None
        line = axes[0].plot(*xy(key("heap_inuse_bytes", _MB)), label=webhook_label(r))[0]
        c = line.get_color()
        axes[1].plot(*xy(key("goroutines")), color=c)
        axes[2].plot(*xy(key("receiver_connections")), color=c)
        axes[3].plot(*xy(key("backlog_events")), color=c)
        axes[3].plot(*xy(lambda p: None if p.get("audit_errors") is None else p["audit_errors"].get("buffered", 0)),
                     color=c, linestyle=":")
        lat = r.series.get("latency") or []
        axes[4].plot([q["t"] - t0 for q in lat], [q["p99_ms"] if q["p99_ms"] is not None else float("nan") for q in lat],
                     color=c)
        s0, s1 = r.audit.webhook.fault_stretch
        for ax in axes:
            ax.axvspan(s0 - t0, s1 - t0, color="#f4c7c3", alpha=0.15)
    labels = ["apiserver heap in use, MiB", "goroutines", "TCP connections to the receiver",
              "backlog (solid) and dropped (dotted) events", "client p99 per second, ms"]
    for ax, label in zip(axes, labels):
        ax.set_ylabel(label, fontsize=8)
        ax.grid(True, alpha=0.3)
    axes[3].set_yscale("symlog")
    axes[4].set_xlabel("seconds from the window's start (shaded: receiver fault stretch)")
    axes[0].legend(fontsize=7)
    fig.suptitle("A slow audit consumer over time")
    return _save(fig, path)
