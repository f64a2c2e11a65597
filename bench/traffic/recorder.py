"""Per-process sample file: one CSV row per request, duration as a float in ms.

Used inside the Locust process (no locust import here). Rows are buffered and written in
blocks so recording costs a few microseconds per request.
"""

from __future__ import annotations

import csv
from pathlib import Path

# lag_ms: open loop, how late the request was sent after its scheduled start (0 closed loop)
COLUMNS = ("t", "cls", "method", "ms", "status", "bytes", "ok", "lag_ms")


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
