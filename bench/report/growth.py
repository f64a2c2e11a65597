"""How audit cost grows: the growth curves' data, from a run's variant results (pure).

Collection size (the objects profile): one row per measured variant and repeat with its
collection's unpaged LIST size (measured at set-up) and the apiserver's heap in use (the
per-second series; the /metrics edge scrapes when a run has no series) and RSS (/proc) over
the window, LIST latency and audit bytes per LIST. A curve is a variant family (policy and
audit settings) across collections; its points are means over repeats. The fit says how many
bytes of heap each byte of LIST response costs under each policy: the #131720 question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bench.results.schema import MEASURED, VariantResult

NO_AUDIT = "no audit"
_OBJECTS_PART = re.compile(r"\.(n\d+-s[0-9.]+k|nodes\d+|k8s-v[0-9.]+)(?=\.|$)")


def family(r: VariantResult) -> str:
    """The curve a variant belongs to: its id without profile and collection ("no audit" for
    the baseline), so one curve runs across collection sizes."""
    if r.variant.is_baseline:
        return NO_AUDIT
    vid = _OBJECTS_PART.sub("", r.variant_id)
    return vid.replace(f".{r.variant.profile}", "")


def _kind(g: dict[str, Any], kind: str, key: str) -> float | None:
    v = (g.get("by_kind") or {}).get(kind, {}).get(key)
    return float(v) if v is not None else None


def _per_event(g: dict[str, Any], kind: str) -> float | None:
    k = (g.get("by_kind") or {}).get(kind, {})
    if k.get("audit_events") is None:
        return None
    return k["audit_bytes"] / k["audit_events"] if k["audit_events"] else 0.0


def _series(r: VariantResult, key: str, stat: str) -> float | None:
    w = (r.series or {}).get("window") or {}
    v = (w.get(key) or {}).get(stat)
    return float(v) if v is not None else None


def collection_rows(results: list[VariantResult]) -> pd.DataFrame:
    rows = []
    for r in results:
        g = r.growth
        if r.status not in MEASURED or not g or not g.get("collection"):
            continue
        c, api = g["collection"], r.apiserver
        heap_peak = _series(r, "heap_inuse_bytes", "peak")
        rows.append({
            "variant_id": r.variant_id, "repeat": r.repeat, "policy": r.variant.policy, "curve": family(r),
            "count": c.get("count"), "size_kb": c.get("size_kb"), "list_bytes": c.get("list_response_bytes"),
            "heap_peak": heap_peak if heap_peak is not None else (api.heap_inuse_peak_bytes if api else None),
            "heap_mean": _series(r, "heap_inuse_bytes", "mean"),
            "heap_source": "series" if heap_peak is not None else "edges",
            "rss_peak": api.rss_peak_bytes if api else None, "rss_mean": api.rss_mean_bytes if api else None,
            "goroutines_peak": _series(r, "goroutines", "peak"),
            "lists": _kind(g, "bulk.list", "requests"),
            "list_p50_ms": _kind(g, "bulk.list", "p50_ms"), "list_p99_ms": _kind(g, "bulk.list", "p99_ms"),
            "paged_p99_ms": _kind(g, "bulk.listpaged", "p99_ms"), "get_p99_ms": _kind(g, "bulk.get", "p99_ms"),
            # per audit event of the kind: one LIST's cost, even when a LIST still in flight at the
            # window's end has its event in the window but no client sample yet
            "audit_per_list": _per_event(g, "bulk.list"),
            "audit_per_page": _per_event(g, "bulk.listpaged"),
            "audit_per_get": _per_event(g, "bulk.get"),
            "audit_per_watch": _kind(g, "bulk.watch", "audit_bytes_per_request"),
        })
    df = pd.DataFrame(rows)
    for col in (*VALUE_COLUMNS, "list_bytes"):
        if col in df:
            df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)  # None -> NaN, never dropped
    return df


VALUE_COLUMNS = ("heap_peak", "heap_mean", "rss_peak", "rss_mean", "goroutines_peak", "lists", "list_p50_ms",
                 "list_p99_ms", "paged_p99_ms", "get_p99_ms", "audit_per_list", "audit_per_page", "audit_per_get",
                 "audit_per_watch")


def curves(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean over repeats per (curve, collection), with the repeat count, sorted by LIST size."""
    if rows.empty:
        return rows
    keys = ["curve", "count", "size_kb"]
    values = rows.groupby(keys)[list(VALUE_COLUMNS) + ["list_bytes"]].mean(numeric_only=True)
    values["repeats"] = rows.groupby(keys).size()
    out = values.reset_index()
    return out.sort_values(["curve", "list_bytes"], kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class Fit:
    """y = intercept + slope × x by least squares over a curve's points."""

    curve: str
    points: int
    slope: float
    intercept: float
    r2: float | None  # None with two points: a line through two points always fits


def fit_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float | None]:
    """(slope, intercept, R²) of y on x; needs two distinct x values."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(np.unique(x)) < 2:
        raise ValueError("a line needs two distinct x values")
    slope, intercept = np.polyfit(x, y, 1)
    if len(x) < 3:
        return float(slope), float(intercept), None
    resid = y - (intercept + slope * x)
    total = float(((y - y.mean()) ** 2).sum())
    return float(slope), float(intercept), (1.0 - float((resid ** 2).sum()) / total) if total > 0 else None


def fits(table: pd.DataFrame, y: str = "heap_peak", x: str = "list_bytes") -> list[Fit]:
    """One fit per curve with at least two distinct LIST sizes."""
    out = []
    for curve, g in table.groupby("curve", sort=True):
        g = g.dropna(subset=[x, y])
        if g[x].nunique() < 2:
            continue
        slope, intercept, r2 = fit_line(g[x].to_numpy(), g[y].to_numpy())
        out.append(Fit(str(curve), len(g), slope, intercept, r2))
    return out


def against_no_audit(table: pd.DataFrame, y: str = "heap_peak") -> pd.DataFrame:
    """Each curve's point divided by the no-audit point of the same collection."""
    base = table[table["curve"] == NO_AUDIT].set_index(["count", "size_kb"])[y]
    rows = []
    for _, row in table[table["curve"] != NO_AUDIT].iterrows():
        b = base.get((row["count"], row["size_kb"]))
        rows.append({"curve": row["curve"], "count": row["count"], "size_kb": row["size_kb"],
                     "list_bytes": row["list_bytes"], "ratio": (row[y] / b) if b else None})
    return pd.DataFrame(rows)


# --- a slow consumer over time ---------------------------------------------------------------
def soak_results(results: list[VariantResult]) -> list[VariantResult]:
    """Measured variants with a per-second series and a receiver fault stretch."""
    out = []
    for r in results:
        wh = r.audit.webhook if r.audit else None
        if r.status in MEASURED and r.series and r.window and wh is not None and wh.fault_stretch \
                and len(wh.fault_stretch) == 2:
            out.append(r)
    return sorted(out, key=lambda r: (r.variant_id, r.repeat))


def webhook_setting(r: VariantResult) -> str:
    """batch (buffer, throttle) or blocking: what the soak compares."""
    wh = r.variant.audit.get("webhook") or {}
    if wh.get("mode") != "batch":
        return str(wh.get("mode"))
    thr = f"throttle {wh.get('throttle_qps'):g}/s" if wh.get("throttle_enable") else "no throttle"
    return f"batch, buffer {wh.get('batch_buffer_size')}, max-wait {wh.get('batch_max_wait_s'):g}s, {thr}"


def soak_rows(results: list[VariantResult]) -> list[dict[str, Any]]:
    from bench.analysis.soak import soak_verdict

    rows = []
    for r in soak_results(results):
        assert r.window is not None and r.audit is not None and r.audit.webhook is not None
        stretch = r.audit.webhook.fault_stretch or []
        wh = r.variant.audit.get("webhook") or {}
        v = soak_verdict(r.series or {}, (r.window.start, r.window.end), (stretch[0], stretch[1]))
        rows.append({"variant_id": r.variant_id, "repeat": r.repeat, "setting": webhook_setting(r),
                     "faults": {k: wh.get(f"receiver_{k}") for k in ("delay_ms", "error_rate", "down_for_s")},
                     "stretch_s": [round(stretch[0] - r.window.start, 1), round(stretch[1] - r.window.start, 1)],
                     **v})
    return rows


# --- cluster size: simulated kubelets ----------------------------------------------------------
def nodes_rows(results: list[VariantResult]) -> pd.DataFrame:
    """Per variant and repeat: node count, audit events and bytes per node per day, the
    apiserver's heap and CPU, the content types the simulated kubelets sent."""
    rows = []
    for r in results:
        fleet = (r.growth or {}).get("nodes")
        if r.status not in MEASURED or not fleet:
            continue
        api = r.apiserver
        rows.append({
            "variant_id": r.variant_id, "repeat": r.repeat, "policy": r.variant.policy, "curve": family(r),
            "nodes": fleet["count"], "requests_per_node_per_day": fleet.get("requests_per_node_per_day"),
            "events_per_node_per_day": fleet.get("audit_events_per_node_per_day"),
            "bytes_per_node_per_day": fleet.get("audit_bytes_per_node_per_day"),
            "heap_peak": _series(r, "heap_inuse_bytes", "peak") or (api.heap_inuse_peak_bytes if api else None),
            "cpu_seconds": api.cpu_seconds if api else None,
            "window_s": fleet.get("window_s"),
        })
    return pd.DataFrame(rows)


def nodes_table(rows: pd.DataFrame) -> pd.DataFrame:
    if rows.empty:
        return rows
    g = rows.groupby(["curve", "nodes"])
    out = g[["requests_per_node_per_day", "events_per_node_per_day", "bytes_per_node_per_day", "heap_peak",
             "cpu_seconds", "window_s"]].mean(numeric_only=True)
    out["repeats"] = g.size()
    out = out.reset_index()
    out["cores"] = out["cpu_seconds"] / out["window_s"]
    out["gb_per_day_cluster"] = out["bytes_per_node_per_day"] * out["nodes"] / 1e9
    return out.sort_values(["nodes", "curve"], kind="stable").reset_index(drop=True)


def content_types(results: list[VariantResult]) -> dict[str, dict[str, int]]:
    """What the simulated kubelets sent, by class: "body type | Accept" -> requests (first result)."""
    for r in results:
        fleet = (r.growth or {}).get("nodes")
        if r.status in MEASURED and fleet and fleet.get("content_types"):
            return fleet["content_types"]
    return {}


# --- Kubernetes releases -------------------------------------------------------------------------
def release_rows(results: list[VariantResult]) -> pd.DataFrame:
    """Per variant family and release (the scenario's kubernetes axis), means over repeats."""
    rows = []
    for r in results:
        if r.status not in MEASURED or not r.variant.kubernetes:
            continue
        lat, api = r.latency_client, r.apiserver
        log = r.audit.log if r.audit and r.audit.log and r.audit.log.enabled else None
        requests = r.traffic.requests if r.traffic else None
        rows.append({
            "curve": family(r), "release": r.variant.kubernetes,
            "p50_ms": lat.overall.p50_ms if lat else None, "p99_ms": lat.overall.p99_ms if lat else None,
            "cpu_ms_per_1k": api.cpu_ms_per_1k_requests if api else None,
            "heap_peak": _series(r, "heap_inuse_bytes", "peak") or (api.heap_inuse_peak_bytes if api else None),
            "bytes_per_request": (log.bytes / requests) if log and log.bytes is not None and requests else None,
        })
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    for col in ("p50_ms", "p99_ms", "cpu_ms_per_1k", "heap_peak", "bytes_per_request"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    g = df.groupby(["curve", "release"])
    out = g.mean(numeric_only=True)
    out["repeats"] = g.size()
    return out.reset_index().sort_values(["curve", "release"], kind="stable").reset_index(drop=True)


def soak_reference(results: list[VariantResult]) -> list[dict[str, Any]]:
    """The no-audit baselines of a soak run: how the heap drifts with the traffic alone."""
    from bench.analysis.soak import trend

    if not soak_results(results):
        return []
    out = []
    for r in sorted(results, key=lambda r: (r.variant_id, r.repeat)):
        if r.status not in MEASURED or not r.variant.is_baseline or not r.series or not r.window:
            continue
        pts = [(p["t"], p["heap_inuse_bytes"]) for p in r.series.get("points") or []
               if p.get("heap_inuse_bytes") is not None and r.window.start <= p["t"] <= r.window.end]
        tr = trend(np.array([p[0] for p in pts]), np.array([float(p[1]) for p in pts])) if len(pts) >= 3 else None
        out.append({"variant_id": r.variant_id, "repeat": r.repeat, "points": len(pts),
                    "heap_first": pts[0][1] if pts else None, "heap_last": pts[-1][1] if pts else None,
                    "slope_per_min": tr.slope * 60 if tr else None,
                    "slope_low": tr.low * 60 if tr else None, "slope_high": tr.high * 60 if tr else None})
    return out
