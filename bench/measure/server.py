"""Measurement "apiserver_metrics": kube-apiserver /metrics scraped at the window's edges.

The scrapes that bracket the window are triggered at its start and end edges (not picked
from a timer), so server latency, request counts, heap allocations and the audit counters
cover the same span as the client samples; the bracket's overlap with the window is
recorded. A slower timer (every ``interval`` s) adds a time series of heap, goroutines
and audit counters, and stands in for an edge scrape that failed. One more scrape after
the traffic and before SIGTERM tells what the audit backends did after the window
(late drops and delivery errors) for the reconciliation.

Each scrape costs the apiserver about 30 ms of CPU (the text is ~2.5 MB), the same in every
variant; the scraper's own requests carry the harness user agent.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from bench.measure import apimetrics
from bench.measure import metricnames as names
from bench.measure.apimetrics import Snapshot
from bench.measure.base import BaseMeasurement, Context, Edge, Window, register

INTERVAL_S = 10.0
_PARTIAL = frozenset(names.SERIES + names.AUDIT)


@dataclass(frozen=True)
class Scrape:
    sent: float
    received: float
    text: str
    label: str  # "initial" | "start" | "end" | "timer" | "final"
    headers_at: float | None = None  # when the response headers arrived

    @property
    def at(self) -> float:
        """When the counters were read. kube-apiserver's /metrics gathers every metric, then
        encodes and writes ~2.5 MB: the read happens just before the headers go out, while
        the transfer after it can take hundreds of ms on a busy core. Without a header time,
        the request's midpoint."""
        return self.headers_at if self.headers_at is not None else (self.sent + self.received) / 2


def coverage(bracket: tuple[float, float], window: Window) -> float:
    """Share of the window the bracket covers (0..1)."""
    overlap = min(bracket[1], window.end) - max(bracket[0], window.start)
    return max(0.0, overlap) / window.duration_s if window.duration_s > 0 else 0.0


def choose_bracket(scrapes: list[Scrape], window: Window) -> tuple[Scrape, Scrape] | None:
    """The edge scrapes; else the scrapes nearest each edge (an edge scrape failed)."""
    by_label = {s.label: s for s in scrapes}
    if "start" in by_label and "end" in by_label:
        return by_label["start"], by_label["end"]
    ordered = sorted(scrapes, key=lambda s: s.at)
    if len(ordered) < 2:
        return None
    first = by_label.get("start") or min(ordered, key=lambda s: abs(s.at - window.start))
    last = by_label.get("end") or min(ordered, key=lambda s: abs(s.at - window.end))
    return (first, last) if first.at < last.at else None


def series_point(snap: Snapshot) -> dict[str, Any]:
    """One point of the time series: the gauges and cumulative audit counters."""
    heap = snap.value(names.HEAP_INUSE)
    gor = snap.value(names.GOROUTINES)
    rss = snap.value(names.RSS)
    errors = apimetrics._by_label(snap.series(names.AUDIT_ERRORS), "plugin")  # noqa: SLF001
    return {
        "t": round(snap.taken_at, 3),
        "heap_inuse_bytes": int(heap) if heap is not None else None,
        "goroutines": int(gor) if gor is not None else None,
        "rss_bytes": int(rss) if rss is not None else None,
        "audit_events": int(snap.value(names.AUDIT_EVENTS) or 0),
        "audit_errors": errors,
    }


@register
class ApiserverMetrics(BaseMeasurement):
    name = "apiserver_metrics"
    needs = "metrics"

    def __init__(self, interval: float = INTERVAL_S) -> None:
        self.interval = interval
        self.scrapes: list[Scrape] = []
        self.errors: list[str] = []
        self._client: Any = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _scrape(self, label: str) -> None:
        sent = time.time()
        try:
            resp, headers_at = self._client.get_timed("/metrics")
        except Exception as exc:  # a missed scrape is recorded; the bracket falls back
            self.errors.append(f"{label}: {type(exc).__name__}: {exc}")
            return
        received = time.time()
        if resp.status != 200:
            self.errors.append(f"{label}: HTTP {resp.status}")
            return
        with self._lock:
            self.scrapes.append(Scrape(sent, received, resp.body.decode("utf-8", errors="replace"), label, headers_at))

    def _timer(self) -> None:
        while not self._stop.wait(self.interval):
            self._scrape("timer")

    def start(self, ctx: Context) -> None:
        self._client = ctx.cluster.client("admin", timeout=10.0, purpose="metrics")
        self._scrape("initial")
        self._thread = threading.Thread(target=self._timer, daemon=True, name="metrics-timer")
        self._thread.start()

    def edge(self, ctx: Context, edge: Edge) -> None:
        self._scrape(edge)

    def stop(self, ctx: Context) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._scrape("final")  # before SIGTERM: what the backends did after the window
        self._client.close()

    def collect(self, ctx: Context) -> dict[str, Any]:
        assert ctx.window is not None
        bracket = choose_bracket(self.scrapes, ctx.window)
        # Only the bracket's two scrapes need every wanted family (the latency histograms are
        # most of the text and most of the ~0.6 s a full parse takes); the others feed the time
        # series and the audit counters after the window.
        full = {id(s) for s in bracket} if bracket is not None else set()
        parsed = {id(s): apimetrics.parse_metrics(s.text, s.at, None if id(s) in full else _PARTIAL)
                  for s in self.scrapes}
        out: dict[str, Any] = {"scrape_errors": self.errors, "series": [series_point(parsed[id(s)]) for s in
                                                                        sorted(self.scrapes, key=lambda s: s.at)]}
        if bracket is None:
            out["bracket"] = None
            return out
        first, last = bracket
        before, after = parsed[id(first)], parsed[id(last)]
        out["bracket"] = {
            "start": round(first.at, 3), "end": round(last.at, 3), "labels": [first.label, last.label],
            "coverage": round(coverage((first.at, last.at), ctx.window), 4),
            "scrape_ms": [round((first.received - first.sent) * 1000, 1), round((last.received - last.sent) * 1000, 1)],
            "read_after_ms": [round((s.at - s.sent) * 1000, 1) for s in (first, last)],  # request sent -> counters read
        }
        out["latency_server"] = apimetrics.latency_server(before, after)
        out["audit"] = apimetrics.audit_metrics(before, after)
        out["apiserver"] = apimetrics.apiserver_process(before, after)
        final = next((s for s in self.scrapes if s.label == "final"), None)
        if final is not None and final.at > last.at:
            out["audit_after_window"] = apimetrics.audit_metrics(after, parsed[id(final)])
        in_window = [p for p in out["series"] if ctx.window.start <= p["t"] <= ctx.window.end]
        heaps = [p["heap_inuse_bytes"] for p in in_window if p["heap_inuse_bytes"] is not None]
        out["heap_inuse_peak_bytes"] = max(heaps) if heaps else None
        return out
