"""Canary values: every secret and configmap value the traffic writes is one.

The canary file (0600, one canary per line, appended by every traffic process) lets the
measurement search audit logs and webhook captures for values that must never appear.
Canaries are 36 characters, so base64 (how secret ``data`` travels in API responses)
encodes each without padding and the encoded form can be searched for exactly.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

PREFIX = "abcanary"


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
