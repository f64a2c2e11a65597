"""Measurement "client": the traffic's own view, from every request's raw sample, in the window.

A request belongs to the window when it started inside it (as audit events are assigned
by requestReceivedTimestamp). Only successful requests enter the latency percentiles: a
refused connection answers in a millisecond, and a dead apiserver must never read as a
fast one. Failures are the responses the traffic does not expect (bench.traffic.actions
.is_ok: e.g. exec's 400 without a kubelet is expected); their share is checked against
a bound by the orchestrator.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from bench.measure.base import BaseMeasurement, Context, Window, register
from bench.traffic import samples
from bench.traffic.catalog import long_running_classes

MAX_ERROR_RATE = 0.01  # unexpected failures above this share fail the variant
# Open loop: the generator kept its schedule when the p99 of (send − scheduled start) stays
# under this; above it the offered rate was not what the scenario says (flagged). Below it,
# the lag is scheduling jitter on a busy core (52 ms seen on the 2-core CI machine with the
# achieved rate on target), which latency from the schedule already includes.
MAX_LAG_P99_MS = 100.0


def in_window(df: pd.DataFrame, window: Window) -> pd.DataFrame:
    return df[(df["t"] >= window.start) & (df["t"] < window.end)]


def client_figures(df: pd.DataFrame, window: Window) -> dict[str, Any]:
    """Counts over all requests of the window; latency over its successful ones."""
    inside = in_window(df, window)
    ok = inside[inside["ok"] == 1]
    requests = int(len(inside))
    failures = requests - int(len(ok))
    long_running = long_running_classes()
    short = ok[~ok["cls"].isin(long_running)]
    out: dict[str, Any] = {
        "requests": requests,
        "failures": failures,
        "error_rate": (failures / requests) if requests else None,
        "achieved_rps": requests / window.duration_s if window.duration_s > 0 else None,
        "errors_by_code": samples.errors_by_code(inside),
        "latency": samples.summarize(ok, long_running),
        "latency_set": "successful requests started in the window; watches by class only",
    }
    if "lag_ms" in ok and len(short) and float(ok["lag_ms"].max()) > 0:
        # Open loop: latency from each request's scheduled start (no coordinated omission)
        out["latency_from_schedule"] = samples.latency_summary(short["ms"] + short["lag_ms"]).as_dict()
        out["generator_lag_ms"] = samples.latency_summary(inside["lag_ms"]).as_dict()
    return out


@register
class ClientLatency(BaseMeasurement):
    name = "client"

    def collect(self, ctx: Context) -> dict[str, Any]:
        assert ctx.window is not None and ctx.traffic is not None
        df = samples.read_samples([ctx.traffic.samples_path])
        figures = client_figures(df, ctx.window)
        t = ctx.traffic
        figures.update({
            "target_rps": t.target_rps, "mode": t.mode, "users": t.users, "workers": t.workers,
            "recorded": {"start": t.window_start, "end": t.window_end, "requests": t.requests},
            "loadgen_cpu_seconds": t.loadgen_cpu_seconds, "loadgen_cpu_util": t.loadgen_cpu_util,
            "loadgen_cpu_util_max": t.loadgen_cpu_util_max, "loadgen_saturated": t.loadgen_saturated,
            "late_slots": t.late_slots,
        })
        return figures
