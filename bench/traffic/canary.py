"""Canary values: every secret and configmap value the traffic writes is one.

The canary file (0600, one canary per line, appended by every traffic process) lets the
measurement search audit logs and webhook captures for values that must never appear.
Canaries are 36 characters, so base64 (how secret ``data`` travels in API responses)
encodes each without padding and the encoded form can be searched for exactly.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
from pathlib import Path
from typing import Protocol

PREFIX = "abcanary"


class CanarySink(Protocol):
    """Where new canaries are recorded before a request carries them: the CanaryFile, or a
    worker's channel to its master (bench.traffic.transport.ChannelCanaries)."""

    def new(self, count: int) -> list[str]: ...

    def record(self, *values: str) -> None: ...


def new_canary() -> str:
    return PREFIX + secrets.token_hex(14)


def needles(canary: str) -> tuple[str, str]:
    """The forms a canary can take in a log: as sent, and base64 as in Secret.data."""
    return canary, base64.b64encode(canary.encode()).decode()


class CanaryFile:
    """Append-only, shared by processes: one os.write per batch under O_APPEND is atomic for small lines."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.fchmod(self._fd, 0o600)

    def record(self, *values: str) -> None:
        os.write(self._fd, "".join(v + "\n" for v in values).encode())

    def new(self, count: int) -> list[str]:
        """Fresh canaries, recorded before any request carries them."""
        values = [new_canary() for _ in range(count)]
        self.record(*values)
        return values

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def read_canaries(path: str | Path) -> list[str]:
    try:
        return [line for line in Path(path).read_text().splitlines() if line]
    except FileNotFoundError:
        return []


_PLAIN = re.compile(PREFIX + r"[0-9a-f]{28}")
# base64 of the 36-byte canary: its first 6 bytes "abcana" always encode to "YWJjYW5h".
_B64 = re.compile(r"YWJjYW5h[A-Za-z0-9+/]{40}")


def find_canaries(text: str, canaries: set[str] | list[str]) -> set[str]:
    """Which of ``canaries`` occur in ``text``, as sent or base64-encoded."""
    wanted = set(canaries)
    found = {m for m in _PLAIN.findall(text) if m in wanted}
    for m in _B64.findall(text):
        try:
            decoded = base64.b64decode(m).decode()
        except (ValueError, UnicodeDecodeError):
            continue
        if decoded in wanted:
            found.add(decoded)
    return found
