"""Per-process sample file: one CSV row per request, duration as a float in ms.

Used inside the Locust process (no locust import here). Rows are buffered and written in
blocks so recording costs a few microseconds per request. format_row() is the one text form
of a row: the single-process writer, the master writing rows that workers sent, and the tally
that checks those rows all use it.

A request that started in the window and had no answer when the traffic stopped (DRAIN_S
after the window's end) is a row too: status UNFINISHED, not ok, its duration the time it
had waited (a lower bound). Without it a server that hangs (etcd gone, a blocking audit
webhook retrying) would lose exactly its slowest requests from the record and look healthy.
"""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

# lag_ms: open loop, how late the request was sent after its scheduled start (0 closed loop)
COLUMNS = ("t", "cls", "method", "ms", "status", "bytes", "ok", "lag_ms")
FormattedRow = tuple[str, str, str, str, int, int, int, str]


def format_row(t: float, cls: str, method: str, ms: float, status: int, nbytes: int, ok: bool,
               lag_ms: float = 0.0) -> FormattedRow:
    # 0.1 us resolution for durations, 1 us for start times: far below loopback jitter.
    return (f"{t:.6f}", cls, method, f"{ms:.4f}", int(status), int(nbytes), 1 if ok else 0, f"{lag_ms:.3f}")


class Tally:
    """Count, counts per class and an order-independent digest of formatted rows.

    The digest is the sum of each row's 64-bit BLAKE2b modulo 2**64, so a lost, duplicated or
    altered row changes it whatever order rows arrive in.
    """

    def __init__(self) -> None:
        self.count = 0
        self.by_class: Counter[str] = Counter()
        self.digest = 0

    def add(self, row: FormattedRow) -> None:
        self.count += 1
        self.by_class[row[1]] += 1
        h = hashlib.blake2b("\x1f".join(map(str, row)).encode(), digest_size=8).digest()
        self.digest = (self.digest + int.from_bytes(h, "big")) % (1 << 64)

    def as_dict(self) -> dict[str, Any]:
        return {"count": self.count, "by_class": dict(sorted(self.by_class.items())), "digest": f"{self.digest:016x}"}

UNFINISHED = -1  # status of a request still waiting for its answer when the traffic stopped
# After the window's end, requests in flight get this long to finish before the traffic stops.
DRAIN_S = 2.0


class SampleWriter:
    def __init__(self, path: str | Path, block: int = 4096, tally: Tally | None = None) -> None:
        self.path = Path(path)
        self._fh = open(self.path, "w", newline="", buffering=1 << 20)
        self._csv = csv.writer(self._fh)
        self._csv.writerow(COLUMNS)
        self._rows: list[FormattedRow] = []
        self._block = block
        self.tally = tally
        self.count = 0

    def add(self, t: float, cls: str, method: str, ms: float, status: int, nbytes: int, ok: bool,
            lag_ms: float = 0.0) -> None:
        row = format_row(t, cls, method, ms, status, nbytes, ok, lag_ms)
        self._rows.append(row)
        if self.tally is not None:
            self.tally.add(row)
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


class RowSink(Protocol):
    """Where rows go: this process's SampleWriter, or a worker's Outbox to the master."""

    def add(self, t: float, cls: str, method: str, ms: float, status: int, nbytes: int, ok: bool,
            lag_ms: float = 0.0) -> None: ...


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

    def flush_unfinished(self, writer: RowSink, record_from: float, record_to: float, now: float) -> int:
        """Write every pending request that started in [record_from, record_to) as UNFINISHED."""
        n = 0
        for p in self._pending.values():
            if record_from <= p.t < record_to:
                writer.add(p.t, p.cls, p.method, max(0.0, now - p.t) * 1000.0, UNFINISHED, 0, False, p.lag_ms)
                n += 1
        self._pending.clear()
        return n
