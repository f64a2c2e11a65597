"""Per-process sample file: one CSV row per request, duration as a float in ms.

Used inside the Locust process (no locust import here). Rows are buffered and written in
blocks so recording costs a few microseconds per request.

A request that started in the window and had no answer when the traffic stopped (DRAIN_S
after the window's end) is a row too: status UNFINISHED, not ok, its duration the time it
had waited (a lower bound). Without it a server that hangs (etcd gone, a blocking audit
webhook retrying) would lose exactly its slowest requests from the record and look healthy.
"""

from __future__ import annotations

import csv
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path

# lag_ms: open loop, how late the request was sent after its scheduled start (0 closed loop)
COLUMNS = ("t", "cls", "method", "ms", "status", "bytes", "ok", "lag_ms")
UNFINISHED = -1  # status of a request still waiting for its answer when the traffic stopped
# After the window's end, requests in flight get this long to finish before the traffic stops.
DRAIN_S = 2.0


class SampleWriter:
    def __init__(self, path: str | Path, block: int = 4096) -> None:
        self.path = Path(path)
        self._fh = open(self.path, "w", newline="", buffering=1 << 20)
        self._csv = csv.writer(self._fh)
        self._csv.writerow(COLUMNS)
        self._rows: list[tuple[str, str, str, str, int, int, int, str]] = []
        self._block = block
        self.count = 0

    def add(self, t: float, cls: str, method: str, ms: float, status: int, nbytes: int, ok: bool,
            lag_ms: float = 0.0) -> None:
        # 0.1 us resolution for durations, 1 us for start times: far below loopback jitter.
        self._rows.append((f"{t:.6f}", cls, method, f"{ms:.4f}", status, nbytes, 1 if ok else 0, f"{lag_ms:.3f}"))
        self.count += 1
        if len(self._rows) >= self._block:
            self.flush()

    def flush(self) -> None:
        if self._rows and not self._fh.closed:
            self._csv.writerows(self._rows)
            self._rows.clear()
            self._fh.flush()

    def close(self) -> None:
        if not self._fh.closed:
            self.flush()
            self._fh.close()


@dataclass(frozen=True)
class Pending:
    t: float  # unix start
    cls: str
    method: str
    lag_ms: float


class InFlight:
    """Requests sent and not yet answered, by sender (one request at a time per greenlet)."""

    def __init__(self) -> None:
        self._pending: dict[Hashable, Pending] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def begin(self, sender: Hashable, t: float, cls: str, method: str, lag_ms: float = 0.0) -> None:
        self._pending[sender] = Pending(t, cls, method, lag_ms)

    def end(self, sender: Hashable) -> None:
        self._pending.pop(sender, None)

    def flush_unfinished(self, writer: SampleWriter, record_from: float, record_to: float, now: float) -> int:
        """Write every pending request that started in [record_from, record_to) as UNFINISHED."""
        n = 0
        for p in self._pending.values():
            if record_from <= p.t < record_to:
                writer.add(p.t, p.cls, p.method, max(0.0, now - p.t) * 1000.0, UNFINISHED, 0, False, p.lag_ms)
                n += 1
        self._pending.clear()
        return n
