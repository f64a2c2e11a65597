"""Canary check: secret values written by the traffic must never reach an audit sink.

The reference article's rule "never log secrets at Request or RequestResponse" made testable:
every secret value the traffic writes is a random canary (bench.traffic.canary); after the run
each audit output is searched for each canary, as sent and base64-encoded. Results name where a
canary was found, never the value itself.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from bench.logs.reader import log_files
from bench.measure.base import BaseMeasurement, Context, register
from bench.traffic.canary import find_canaries, read_canaries

__all__ = ["Canaries", "read_canaries", "scan"]

_OVERLAP = 64  # longer than a canary's longest form (48 base64 characters)


def _found_in(path: Path, wanted: set[str], chunk: int = 8 << 20) -> set[str]:
    """Canaries present in a file, read in chunks that overlap so none is cut in two."""
    found: set[str] = set()
    opener = gzip.open if path.suffix == ".gz" else open
    tail = b""
    with opener(path, "rb") as fh:
        while block := fh.read(chunk):
            data = tail + block
            found |= find_canaries(data.decode("utf-8", errors="replace"), wanted)
            tail = data[-_OVERLAP:]
    return found


def scan(canaries: list[str], files: list[Path]) -> dict[str, object]:
    """Return {"checked": n, "leaked": ["<file>: <k> canary value(s) found", ...]} (locations only)."""
    wanted = set(canaries)
    leaked: list[str] = []
    for path in files:
        if wanted and path.exists():
            hits = len(_found_in(path, wanted))
            if hits:
                leaked.append(f"{path.name}: {hits} canary value(s) found")
    return {"checked": len(wanted), "leaked": leaked}


@register
class Canaries(BaseMeasurement):
    """Measurement "canaries": after the run, every audit sink and component log is searched."""

    name = "canaries"
    needs = "audit_sink"

    def collect(self, ctx: Context) -> dict[str, object]:
        cluster = ctx.cluster
        files = log_files(cluster.audit_log_path) if cluster.audit_log_path else []
        if ctx.receiver is not None:
            files.append(ctx.receiver.capture_path)
        if cluster.logs_dir is not None:  # component logs must not carry them either
            files += sorted(cluster.logs_dir.glob("*.log"))
        canaries = read_canaries(ctx.canary_file) if ctx.canary_file is not None and ctx.canary_file.exists() else []
        return scan(canaries, files)
