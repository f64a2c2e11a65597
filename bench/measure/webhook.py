"""Measurement "webhook": what the audit webhook delivered, batch by batch, in the window.

Batches are assigned by arrival at the receiver: before the window, in it, after it while
the apiserver still ran, and after SIGTERM ("flushed at shutdown": the batch backend then
sends its whole buffer without throttling, which is not delivery the steady state could
sustain). Events per batch, delivery rate and lag are over the in-window batches only.
For the reconciliation, the events the apiserver processed inside the /metrics bracket
(by stageTimestamp) are counted by when they arrived.

Events the apiserver staged before the receiver listened (a cluster that kept running while
no receiver did: the external backend) arrive late, in retried batches; they are counted as
``backlog_events`` and left out of the lag, which would otherwise measure the gap between runs.
On the local and kind backends the receiver starts before the apiserver, so there are none.

Receiver faults are timed from the window, not from the receiver's start: slow answers and
injected HTTP 500s cover the window (from its start edge to its end edge), and the receiver
goes down a third into it. Set-up runs against a healthy receiver (a blocking webhook that
is slow from the start keeps kube-apiserver from becoming ready at all).
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any

from bench.logs.heads import Batch, capture_batches
from bench.measure.base import BaseMeasurement, Context, Edge, Window, register
from bench.measure.plugin_errors import failed_in_log
from bench.webhook.stats import LagHistogram, batch_range, size_quantile

PERIODS = ("before", "in_window", "after_window", "flushed_at_shutdown")


def period_of(arrival: float, window: Window, sigterm_at: float | None) -> str:
    if sigterm_at is not None and arrival >= sigterm_at:
        return "flushed_at_shutdown"
    if arrival < window.start:
        return "before"
    return "in_window" if arrival < window.end else "after_window"


class Period:
    def __init__(self) -> None:
        self.batches = 0
        self.events = 0
        self.bytes = 0
        self.sizes: Counter[int] = Counter()
        self.lag = LagHistogram()
        self.by_level: Counter[str] = Counter()
        self.by_stage: Counter[str] = Counter()
        self.first: float | None = None
        self.last: float | None = None
        self.backlog = 0  # events staged before the receiver listened

    def add(self, batch: Batch, since: float | None = None) -> None:
        self.batches += 1
        self.events += len(batch.rows)
        self.bytes += batch.bytes
        self.sizes[len(batch.rows)] += 1
        self.first = batch.received_at if self.first is None else min(self.first, batch.received_at)
        self.last = batch.received_at if self.last is None else max(self.last, batch.received_at)
        for row in batch.rows:
            self.by_level[row.level] += 1
            self.by_stage[row.stage] += 1
            if since is not None and row.staged < since:
                self.backlog += 1
            elif not math.isnan(row.staged):
                self.lag.add((batch.received_at - row.staged) * 1000.0)

    def brief(self) -> dict[str, Any]:
        span = (self.last - self.first) if self.first is not None and self.last is not None else None
        return {"batches": self.batches, "events": self.events, "bytes": self.bytes,
                "span_s": round(span, 3) if span is not None else None}


def batch_sizes(sizes: Counter[int]) -> dict[str, Any]:
    n = sum(sizes.values())
    histogram: dict[str, int] = {}
    for size, count in sorted(sizes.items()):
        histogram[batch_range(size)] = histogram.get(batch_range(size), 0) + count
    return {
        "mean": round(sum(k * v for k, v in sizes.items()) / n, 3) if n else None,
        "p50": size_quantile(sizes, n, 0.50),
        "p90": size_quantile(sizes, n, 0.90),
        "p99": size_quantile(sizes, n, 0.99),
        "max": max(sizes) if sizes else None,
        "histogram": histogram,
    }


def tally_batches(batches: Iterable[Batch], window: Window, sigterm_at: float | None,
                  bracket: tuple[float, float] | None, since: float | None = None) -> dict[str, Any]:
    """Pure: batches -> {periods: {name: Period}, staged_in_bracket: {period: events}}.
    ``since``: when the receiver started listening (earlier events are backlog)."""
    periods = {name: Period() for name in PERIODS}
    staged: Counter[str] = Counter()
    held = 0.0  # the longest an event was stamped after its request arrived
    for batch in batches:
        name = period_of(batch.received_at, window, sigterm_at)
        periods[name].add(batch, since)
        if bracket is not None:
            staged[name] += sum(1 for r in batch.rows if bracket[0] <= r.staged < bracket[1])
        held = max([held, *(r.staged - r.received for r in batch.rows if r.stage != "RequestReceived"
                            and not math.isnan(r.staged - r.received))])
    return {"periods": periods, "staged_in_bracket": dict(staged), "held_max_s": held}


def webhook_figures(tallies: dict[str, Any], window: Window) -> dict[str, Any]:
    w: Period = tallies["periods"]["in_window"]
    d = window.duration_s
    return {
        "enabled": True,
        "batches": w.batches,
        "events": w.events,
        "bytes": w.bytes,
        "batches_per_s": round(w.batches / d, 3) if d > 0 else None,
        "events_per_s": round(w.events / d, 3) if d > 0 else None,
        "events_per_batch": batch_sizes(w.sizes),
        "lag_ms": w.lag.summary(),
        "backlog_events": w.backlog,
        "by_level": dict(w.by_level),
        "by_stage": dict(w.by_stage),
        "periods": {name: p.brief() for name, p in tallies["periods"].items()},
        "flushed_at_shutdown": tallies["periods"]["flushed_at_shutdown"].brief(),
        "staged_in_bracket": tallies["staged_in_bracket"],
    }


@register
class Webhook(BaseMeasurement):
    name = "webhook"
    needs = "webhook"

    def __init__(self) -> None:
        self._fault: threading.Timer | None = None
        self._timers: list[threading.Timer] = []
        self.down_at: float | None = None
        self.stretch: list[float] = []  # unix times the fault stretch began and ended

    def _start_stretch(self, ctx: Context, wh: Any) -> None:
        """Faults for a stretch of the window (fault_at/fault_for), timed from its start."""
        def begin() -> None:
            self.stretch = [time.time()]
            ctx.receiver.set_faults(wh.receiver_delay_ms, wh.receiver_error_rate)
            if wh.receiver_down_for_s:
                self.down_at = time.time()
                ctx.receiver.go_down(wh.receiver_down_for_s)

        def end() -> None:
            ctx.receiver.set_faults(0.0, 0.0)
            self.stretch.append(time.time())
        for delay, fn in ((wh.receiver_fault_at_s, begin), (wh.receiver_fault_at_s + wh.receiver_fault_for_s, end)):
            timer = threading.Timer(delay, fn)
            timer.daemon = True
            timer.start()
            self._timers.append(timer)

    def edge(self, ctx: Context, edge: Edge) -> None:
        wh = ctx.variant.webhook
        if ctx.receiver is None or wh is None:
            return
        if getattr(wh, "receiver_fault_at_s", None) is not None:
            if edge == "start":  # a stretch inside the window (soaks), timed from its start
                self._start_stretch(ctx, wh)
            return
        if wh.receiver_delay_ms or wh.receiver_error_rate:
            if edge == "start":
                ctx.receiver.set_faults(wh.receiver_delay_ms, wh.receiver_error_rate)
            else:
                ctx.receiver.set_faults()
        if edge != "start" or not wh.receiver_down_for_s:
            return
        # The receiver goes down a third into the window, for the configured time.
        delay = (ctx.variant.load.duration_s or 30.0) / 3

        def down() -> None:
            self.down_at = time.time()
            ctx.receiver.go_down(wh.receiver_down_for_s)

        self._fault = threading.Timer(delay, down)
        self._fault.daemon = True
        self._fault.start()

    def stop(self, ctx: Context) -> None:
        if self._fault is not None:
            self._fault.cancel()
        for timer in self._timers:
            timer.cancel()

    def collect(self, ctx: Context) -> dict[str, Any]:
        if ctx.receiver is None:
            return {}
        assert ctx.window is not None
        final = ctx.receiver.stats()
        tallies = tally_batches(capture_batches(ctx.receiver.capture_path), ctx.window, ctx.stop.sigterm_at, ctx.bracket,
                                since=getattr(ctx.receiver, "started_at", None))
        doc = webhook_figures(tallies, ctx.window)
        doc["http_errors"] = final.get("http_errors")
        doc["http_errors_by_code"] = final.get("http_errors_by_code", {})
        doc["rejected"] = final.get("rejected", {})
        doc["receiver_down_at"] = self.down_at
        if ctx.bracket is not None and getattr(ctx.cluster, "logs_dir", None) is not None:  # failures by when their request arrived (bench.measure.plugin_errors)
            failed = failed_in_log(ctx.cluster.logs_dir / "kube-apiserver.log", ctx.bracket, tallies["held_max_s"])
            doc["failed_in_bracket"] = failed.in_span["webhook"]
            doc["failed_near_edges"] = {"start": failed.near_start["webhook"], "end": failed.near_end["webhook"]}
        doc["fault_stretch"] = self.stretch or None
        return doc
