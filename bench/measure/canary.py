"""Canary check: secret values written by the traffic must never reach an audit sink.

The reference article's rule "never log secrets at Request or RequestResponse" made testable:
every secret value the traffic writes is a random canary; after the run each audit output is
searched for each canary. Results name where a canary was found, never the value itself.
"""

from __future__ import annotations

import base64
import gzip
from pathlib import Path


def read_canaries(path: Path) -> list[str]:
    if not path.exists():
        return []
    return sorted({line.strip() for line in path.read_text().splitlines() if line.strip()})


def _needles(canary: str) -> list[bytes]:
    # Secrets travel base64-encoded in .data and plain in .stringData; look for both.
    raw = canary.encode()
    return [raw, base64.b64encode(raw)]


def _found_in(path: Path, needles: dict[str, list[bytes]], chunk: int = 8 << 20) -> set[str]:
    """Canaries present in a file, read in chunks that overlap by the longest needle."""
    overlap = max((len(n) for ns in needles.values() for n in ns), default=0)
    found: set[str] = set()
    opener = gzip.open if path.suffix == ".gz" else open
    tail = b""
    with opener(path, "rb") as fh:
        while True:
            block = fh.read(chunk)
            if not block:
                break
            data = tail + block
            for c, ns in needles.items():
                if c not in found and any(n in data for n in ns):
                    found.add(c)
            tail = data[-overlap:] if overlap else b""
    return found


def scan(canaries: list[str], files: list[Path]) -> dict[str, object]:
    """Return {"checked": n, "leaked": ["<file>: <k> canaries", ...]} (locations only)."""
    needles = {c: _needles(c) for c in canaries}
    leaked: list[str] = []
    for path in files:
        if not path.exists():
            continue
        found = _found_in(path, needles)
        hits = len(found)
        if hits:
            leaked.append(f"{path.name}: {hits} canary value(s) found")
    return {"checked": len(canaries), "leaked": leaked}
