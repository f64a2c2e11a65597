"""Marker requests: did this request reach that audit sink, and has the sink caught up?

On a cluster whose apiserver the harness does not stop (kind, external) there is no SIGTERM
flush, and on an external cluster nobody has said where its audit events go. A marker is a
harness request with a unique name in its URI (a GET of a secret that does not exist, which
almost every policy logs at Metadata): seeing it in a log file or a webhook capture proves
the sink gets this apiserver's events, and seeing one sent after the traffic proves every
earlier event has been written or sent. Sinks are read as bytes from an offset, so a line
being written is never parsed.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.controlplane.http import Client


def marker(prefix: str, label: str) -> str:
    return f"{prefix}-marker-{label}"


def send(client: Client, prefix: str, label: str) -> str:
    """GET a secret that does not exist (404), named so it can be found; returns the name."""
    name = marker(prefix, label)
    client.get(f"/api/v1/namespaces/{prefix}-marker/secrets/{name}")
    return name


class Tail:
    """New bytes of a growing file (from where it ended when the Tail was made)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0
        self._carry = b""

    def contains(self, needle: str) -> bool:
        want = needle.encode()
        try:
            with open(self.path, "rb") as fh:
                size = fh.seek(0, 2)
                if size < self.offset:  # rotated or truncated: read the new file from its start
                    self.offset, self._carry = 0, b""
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:
            return False
        self.offset += len(data)
        window = self._carry + data
        self._carry = window[-len(want):]
        return want in window


def wait_for(tail: Tail, needle: str, timeout_s: float, poll_s: float = 0.25) -> float | None:
    """Seconds until ``needle`` appeared in the tail, or None after ``timeout_s``."""
    start = time.monotonic()
    while True:
        if tail.contains(needle):
            return time.monotonic() - start
        if time.monotonic() - start >= timeout_s:
            return None
        time.sleep(poll_s)
