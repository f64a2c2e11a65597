"""Measurement "series": the apiserver over time, one point every ``timeseries`` seconds.

For growth and soak questions ("does memory stay bounded while the webhook is down?") the
window's two edge scrapes are not enough: this samples, every interval (1 s in the growth
and soak scenarios), the apiserver's own /metrics (heap in use, goroutines, in-flight
requests, cumulative audit events and errors by plugin), its RSS from /proc, its open TCP
connections to the webhook receiver (the sockets in /proc/<pid>/fd matched against
/proc/<pid>/net/tcp{,6}: #85489's connection build-up), and the receiver's cumulative
counters. kube-apiserver has no metric for the audit buffer's fill, so the series carries
the measured difference instead: events generated (apiserver_audit_event_total) minus
events the receiver got, dropped (error_total{plugin="buffered"}) or failed
(error_total{plugin="webhook"}) — what sits in the buffer or in a batch being sent.

Only a handful of families are read from each 2.5 MB scrape (a line filter, no full
parse), and a point is kept, never the text, so a soak of many minutes stays small. Off
unless the scenario sets ``timeseries``: each scrape costs the apiserver about 30 ms of CPU.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench.measure.base import BaseMeasurement, Context, Window, register

# Gauges and counters a point keeps: sample name -> point key (label-summed).
_SCALARS = {
    "go_memstats_heap_inuse_bytes": "heap_inuse_bytes",
    "go_memstats_heap_alloc_bytes": "heap_alloc_bytes",
    "go_goroutines": "goroutines",
    "process_resident_memory_bytes": "rss_metric_bytes",
    "apiserver_audit_event_total": "audit_events",
}
_BY_LABEL = {  # sample name -> (label, point key)
    "apiserver_audit_error_total": ("plugin", "audit_errors"),
    "apiserver_current_inflight_requests": ("request_kind", "inflight"),
}
_ESTABLISHED = "01"


def read_point(text: str) -> dict[str, Any]:
    """The wanted samples of a /metrics text (pure)."""
    point: dict[str, Any] = {key: None for key in _SCALARS.values()}
    for key in ("audit_errors", "inflight"):
        point[key] = {}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        brace = line.find("{")
        name = line[:brace] if brace >= 0 else line.split(" ", 1)[0]
        if name not in _SCALARS and name not in _BY_LABEL:
            continue
        try:
            value = float(line.rsplit(" ", 1)[1])
        except (IndexError, ValueError):
            continue
        if name in _SCALARS:
            key = _SCALARS[name]
            point[key] = (point[key] or 0) + value
            continue
        label, key = _BY_LABEL[name]
        labels = line[brace + 1:line.rfind("}")] if brace >= 0 else ""
        tag = _label(labels, label)
        point[key][tag] = point[key].get(tag, 0) + value
    for key in _SCALARS.values():
        if point[key] is not None:
            point[key] = int(point[key])
    for key in ("audit_errors", "inflight"):
        point[key] = {k: int(v) for k, v in sorted(point[key].items())}
    return point


def _label(labels: str, name: str) -> str:
    for part in labels.split(","):
        k, _, v = part.partition("=")
        if k.strip() == name:
            return v.strip().strip('"')
    return ""


def socket_inodes(pid: int, proc: Path = Path("/proc")) -> set[int]:
    """Inodes of the sockets ``pid`` holds open."""
    out: set[int] = set()
    fd_dir = proc / str(pid) / "fd"
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return out
    for name in names:
        try:
            target = os.readlink(fd_dir / name)
        except OSError:
            continue  # closed between listdir and readlink
        if target.startswith("socket:["):
            out.add(int(target[8:-1]))
    return out


def tcp_rows(pid: int, proc: Path = Path("/proc")) -> Iterable[tuple[int, int, str, int]]:
    """(local port, remote port, state, inode) of every TCP socket in ``pid``'s network namespace."""
    for name in ("tcp", "tcp6"):
        try:
            lines = (proc / str(pid) / "net" / name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) < 10:
                continue
            yield int(f[1].rsplit(":", 1)[1], 16), int(f[2].rsplit(":", 1)[1], 16), f[3], int(f[9])


def connections(pid: int, remote_port: int | None, proc: Path = Path("/proc")) -> dict[str, int]:
    """Established TCP connections ``pid`` holds: all of them, and those to ``remote_port``."""
    mine = socket_inodes(pid, proc)
    total = to_port = 0
    for _local, remote, state, inode in tcp_rows(pid, proc):
        if inode in mine and state == _ESTABLISHED:
            total += 1
            if remote_port is not None and remote == remote_port:
                to_port += 1
    return {"established": total, "to_receiver": to_port}


def vm_rss(pid: int, proc: Path = Path("/proc")) -> int | None:
    try:
        for line in (proc / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def backlog(point: dict[str, Any]) -> int | None:
    """Events generated but neither delivered, dropped nor failed (webhook-only variants)."""
    received = point.get("receiver_events")
    if point.get("audit_events") is None or received is None:
        return None
    errors = point.get("audit_errors") or {}
    return point["audit_events"] - received - errors.get("buffered", 0) - errors.get("webhook", 0)


def merge_points(metrics: list[dict[str, Any]], proc: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One time-ordered series: each /metrics point, and each /proc point, every key absent
    from a point being None (pure). A point carries what was read at its time, nothing copied."""
    keys = sorted({k for p in metrics + proc for k in p})
    out = [{k: p.get(k) for k in keys} for p in metrics + proc]
    return sorted(out, key=lambda p: p["t"])


def latency_per_second(df: Any, window: Window) -> list[dict[str, Any]]:
    """Client requests started in each whole second of the window: count, failures and the
    p50/p99 of the successful non-watch ones (pure; df as bench.traffic.samples reads it)."""
    import numpy as np

    from bench.traffic.catalog import long_running_classes

    inside = df[(df["t"] >= window.start) & (df["t"] < window.end)]
    if inside.empty:
        return []
    second = np.floor(inside["t"].to_numpy() - window.start).astype(int)
    short = ~inside["cls"].isin(long_running_classes()).to_numpy()
    ok = inside["ok"].to_numpy() == 1
    ms = inside["ms"].to_numpy()
    out = []
    for s in range(int(second.max()) + 1):
        mine = second == s
        good = ms[mine & ok & short]
        out.append({"t": round(window.start + s, 3), "requests": int(mine.sum()), "failures": int((mine & ~ok).sum()),
                    "p50_ms": round(float(np.percentile(good, 50)), 3) if good.size else None,
                    "p99_ms": round(float(np.percentile(good, 99)), 3) if good.size else None})
    return out


def _stats(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"peak": None, "mean": None, "first": None, "last": None}
    return {"peak": max(values), "mean": sum(values) / len(values), "first": values[0], "last": values[-1]}


def window_summary(points: list[dict[str, Any]], window: Window) -> dict[str, Any]:
    """Peak, mean, first and last of each series over the points inside the window (pure)."""
    inside = [p for p in points if window.start <= p["t"] <= window.end]
    out: dict[str, Any] = {"points": len(inside)}
    for key in ("heap_inuse_bytes", "goroutines", "rss_bytes", "receiver_connections", "established",
                "backlog_events"):
        values = [float(p[key]) for p in inside if p.get(key) is not None and not math.isnan(float(p[key]))]
        out[key] = _stats(values)
    return out


@register
class SeriesMeasurement(BaseMeasurement):
    name = "series"
    needs = "process"  # RSS and connections from the apiserver's /proc entry

    def __init__(self) -> None:
        self.points: list[dict[str, Any]] = []  # from /metrics (and the receiver's counters)
        self.proc_points: list[dict[str, Any]] = []  # from /proc
        self.errors: list[str] = []
        self.interval: float | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self, ctx: Context) -> None:
        self.interval = getattr(ctx.variant, "series_interval_s", None)
        if not self.interval:
            return
        client = ctx.cluster.client("admin", timeout=max(5.0, 3 * self.interval), purpose="series")
        pid = ctx.cluster.pids()["apiserver"]
        receiver = ctx.receiver
        port = receiver.port if receiver is not None else None
        # Two loops: /proc never waits, while a /metrics scrape can (it is audited like any
        # request, so in blocking webhook mode it waits for the webhook): a stalled scrape
        # leaves gaps in heap and goroutines, never in RSS and connections.
        self._threads = [
            self._loop("series-proc", lambda: self._proc_point(pid, receiver, port)),
            self._loop("series-metrics", lambda: self._metrics_point(client, receiver), client.close),
        ]

    def _loop(self, name: str, sample: Any, done: Any = None) -> threading.Thread:
        def run() -> None:
            next_at = time.monotonic()
            try:
                while not self._stop.is_set():
                    sample()
                    next_at = max(next_at + (self.interval or 1.0), time.monotonic())
                    self._stop.wait(max(0.0, next_at - time.monotonic()))
            finally:
                if done is not None:
                    done()
        thread = threading.Thread(target=run, daemon=True, name=name)
        thread.start()
        return thread

    def _receiver_events(self, receiver: Any) -> int | None:
        try:
            return receiver.stats().get("events")
        except Exception as exc:  # the receiver may be down on purpose; its counters are not
            self.errors.append(f"{time.time():.0f}: receiver stats: {type(exc).__name__}"[:200])
            return None

    def _proc_point(self, pid: int, receiver: Any, port: int | None) -> None:
        conns = connections(pid, port)
        point: dict[str, Any] = {"t": round(time.time(), 3), "rss_bytes": vm_rss(pid), "established": conns["established"]}
        if receiver is not None:
            point["receiver_connections"] = conns["to_receiver"]
        with self._lock:
            self.proc_points.append(point)

    def _metrics_point(self, client: Any, receiver: Any) -> None:
        before = self._receiver_events(receiver) if receiver is not None else None
        sent = time.time()
        try:
            resp = client.get("/metrics")
        except Exception as exc:  # a missed point is recorded, the series goes on
            self.errors.append(f"{time.time():.0f}: {type(exc).__name__}: {exc}"[:200])
            return
        received = time.time()
        if resp.status != 200:
            self.errors.append(f"{received:.0f}: HTTP {resp.status}")
            return
        point = read_point(resp.body.decode("utf-8", errors="replace"))
        point["t"] = round((sent + received) / 2, 3)
        point["scrape_ms"] = round((received - sent) * 1000, 1)
        if receiver is not None:
            after = self._receiver_events(receiver)
            if before is not None and after is not None:
                # the receiver read on both sides of the scrape: their mean matches the counters' moment
                point["receiver_events"] = round((before + after) / 2)
                point["backlog_events"] = backlog(point)
        with self._lock:
            self.points.append(point)

    def stop(self, ctx: Context) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def collect(self, ctx: Context) -> dict[str, Any]:
        if not self.interval:
            return {}
        assert ctx.window is not None
        latency: list[dict[str, Any]] = []
        if ctx.traffic is not None:
            from bench.traffic import samples

            latency = latency_per_second(samples.read_samples([ctx.traffic.samples_path]), ctx.window)
        with self._lock:
            points = merge_points(self.points, self.proc_points)
        return {"interval_s": self.interval, "points": points, "errors": self.errors[:50],
                "window": window_summary(points, ctx.window), "latency": latency}
