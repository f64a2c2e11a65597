"""A slow consumer over time: does apiserver memory stay bounded? (pure)

Input: one variant's per-second series (bench.measure.series points), its window and the
receiver's fault stretch. The series is cut into three phases — before the stretch, during
it, after it — and the verdict rests on what the heap does while the consumer is slow:

- **grows**: in the second half of the stretch, heap in use still rises (least-squares slope
  with a 95% interval above zero, and above the slope before the stretch: the traffic's own
  drift, e.g. objects it creates and keeps, is not the consumer's doing) and has risen
  materially: its last value is more than GROWTH_MATERIAL above the median before the stretch.
  Memory was climbing when the stretch ended; nothing in the data says where it would stop.
- **bounded**: the slope over the stretch's second half is not above zero (its interval
  reaches zero or below: a plateau, or falling), or the rise stayed below GROWTH_MATERIAL.
  Where the run has an after-phase, recovery (the last after-phase median against the
  before median) is reported too.
- **inconclusive**: fewer than MIN_POINTS points in the stretch's second half.

The same rule runs on goroutines and on connections to the receiver (#85489 grew
connections until the apiserver was OOM-killed). Drops (error_total{plugin="buffered"}) and
the backlog (events generated but not delivered, dropped or failed) say where the events went.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats as st

GROWTH_MATERIAL = 0.10  # +10% over the pre-stretch median
MIN_POINTS = 8


@dataclass(frozen=True)
class Trend:
    """Least-squares slope (units per second) with its 95% interval."""

    slope: float
    low: float
    high: float
    points: int


def trend(t: np.ndarray, y: np.ndarray) -> Trend | None:
    t, y = np.asarray(t, dtype=float), np.asarray(y, dtype=float)
    if len(t) < 3 or np.ptp(t) == 0:
        return None
    res = st.linregress(t, y)
    half = float(st.t.ppf(0.975, len(t) - 2) * res.stderr) if math.isfinite(res.stderr) else math.inf
    return Trend(float(res.slope), float(res.slope) - half, float(res.slope) + half, len(t))


def _values(points: list[dict[str, Any]], key: str, start: float, end: float) -> tuple[np.ndarray, np.ndarray]:
    sel = [(p["t"], float(p[key])) for p in points if start <= p["t"] < end and p.get(key) is not None]
    return np.array([s[0] for s in sel]), np.array([s[1] for s in sel])


def _median(v: np.ndarray) -> float | None:
    return float(np.median(v)) if v.size else None


def judge_series(points: list[dict[str, Any]], key: str, window: tuple[float, float],
                 stretch: tuple[float, float]) -> dict[str, Any]:
    """Verdict and figures of one series (heap_inuse_bytes, goroutines, receiver_connections)."""
    (w0, w1), (f0, f1) = window, stretch
    tb, before = _values(points, key, w0, f0)
    _, during = _values(points, key, f0, f1)
    t2, late = _values(points, key, (f0 + f1) / 2, f1)
    _, after = _values(points, key, f1, w1)
    base = _median(before)
    out: dict[str, Any] = {
        "before_median": base, "during_peak": float(during.max()) if during.size else None,
        "during_last": float(during[-1]) if during.size else None,
        "after_median": _median(after[len(after) // 2:]) if after.size else None,
    }
    tr = trend(t2, late) if late.size >= MIN_POINTS else None
    out["late_trend_per_min"] = {k: v * 60 for k, v in asdict(tr).items() if k != "points"} if tr else None
    drift = trend(tb, before) if before.size >= MIN_POINTS else None
    out["before_trend_per_min"] = drift.slope * 60 if drift else None
    if tr is None:
        out["verdict"] = "inconclusive"
        out["reason"] = f"{late.size} points in the stretch's second half (need {MIN_POINTS})"
        return out
    rise = (out["during_last"] / base - 1.0) if base else None
    out["rise"] = rise
    floor = max(0.0, drift.slope) if drift else 0.0
    drift_text = f"; before the stretch {drift.slope * 60:.3g}/min" if drift else ""
    if tr.low > floor and (rise is None or rise > GROWTH_MATERIAL):
        out["verdict"] = "grows"
        out["reason"] = (f"still rising at {tr.slope * 60:.3g}/min [{tr.low * 60:.3g}, {tr.high * 60:.3g}] when the "
                         f"stretch ended" + (f", {rise:+.0%} over before" if rise is not None else "") + drift_text)
    else:
        out["verdict"] = "bounded"
        if tr.low <= 0:
            why = "no rise at the stretch's end"
        elif tr.low <= floor:
            why = "no faster than before the stretch"
        else:
            why = f"rise {rise:+.0%} stays under {GROWTH_MATERIAL:.0%}"
        out["reason"] = f"{why} (slope {tr.slope * 60:.3g}/min [{tr.low * 60:.3g}, {tr.high * 60:.3g}]{drift_text})"
    if base and out["after_median"] is not None:
        out["recovered"] = out["after_median"] <= base * (1 + GROWTH_MATERIAL)
    return out


def counter_delta(points: list[dict[str, Any]], start: float, end: float, get: Any) -> int | None:
    """A cumulative counter's increase between the last point before ``start`` and the last before ``end``."""
    first = [get(p) for p in points if p["t"] <= start and get(p) is not None]
    last = [get(p) for p in points if p["t"] <= end and get(p) is not None]
    if not last:
        return None
    return int(last[-1] - (first[-1] if first else last[0]))


def latency_phases(latency: list[dict[str, Any]], window: tuple[float, float],
                   stretch: tuple[float, float]) -> dict[str, float | None]:
    """Median of the per-second p99 before, during and after the stretch."""
    out: dict[str, float | None] = {}
    for name, (a, b) in (("before", (window[0], stretch[0])), ("during", stretch), ("after", (stretch[1], window[1]))):
        v = [x["p99_ms"] for x in latency if a <= x["t"] < b and x.get("p99_ms") is not None]
        out[name] = float(np.median(v)) if v else None
    return out


def _error(plugin: str) -> Any:
    """The cumulative error counter of ``plugin`` in a /metrics point; None in a /proc point."""
    def get(p: dict[str, Any]) -> int | None:
        errors = p.get("audit_errors")
        return None if errors is None else errors.get(plugin, 0)
    return get


def soak_verdict(series: dict[str, Any], window: tuple[float, float], stretch: tuple[float, float]) -> dict[str, Any]:
    """Everything the report says about one soak variant."""
    points = series.get("points") or []
    out: dict[str, Any] = {"window": list(window), "stretch": list(stretch)}
    for key in ("heap_inuse_bytes", "goroutines", "receiver_connections"):
        out[key] = judge_series(points, key, window, stretch)
    out["drops_during"] = counter_delta(points, stretch[0], stretch[1], _error("buffered"))
    out["drops_total"] = counter_delta(points, window[0], window[1], _error("buffered"))
    out["webhook_errors_total"] = counter_delta(points, window[0], window[1], _error("webhook"))
    backlog = [p["backlog_events"] for p in points if p.get("backlog_events") is not None and window[0] <= p["t"] <= window[1]]
    out["backlog_peak"] = max(backlog) if backlog else None
    out["latency_p99_ms"] = latency_phases(series.get("latency") or [], window, stretch)
    out["verdict"] = out["heap_inuse_bytes"]["verdict"]
    return out
