"""The audit log file backend's output: files (incl. rotated backups), events and volume.

Rotated backups are named by lumberjack as ``<stem>-<timestamp><ext>`` (plus ``.gz`` with
--audit-log-compress) next to the live file; all of them count toward volume.
"""

from __future__ import annotations

import gzip
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


def log_files(live: Path) -> list[Path]:
    """The live log and its rotated backups, oldest first, live file last."""
    backups = sorted(p for p in live.parent.glob(f"{live.stem}-*{live.suffix}*") if p != live)
    return backups + ([live] if live.exists() else [])


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def iter_lines(paths: list[Path]) -> Iterator[bytes]:
    for path in paths:
        with _open(path) as fh:
            for line in fh:
                if line.strip():
                    yield line


def iter_events(paths: list[Path]) -> Iterator[dict[str, Any]]:
    for line in iter_lines(paths):
        yield json.loads(line)


def wait_for_events(
    live: Path, predicate: Callable[[dict[str, Any]], bool], minimum: int = 1, timeout: float = 10.0
) -> list[dict[str, Any]]:
    """Events matching ``predicate``, polling until ``minimum`` are there or the timeout.

    The apiserver writes ResponseComplete after the handler returns, so a client can see
    its response before the event is on disk.
    """
    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in iter_events(log_files(live)) if predicate(e)] if live.exists() else []
        if len(found) >= minimum or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def volume(paths: list[Path], window: tuple[float, float] | None = None) -> dict[str, Any]:
    """Bytes and events by level, stage, resource and verb.

    ``window`` (unix start, end) keeps only events received in it, so set-up and
    tear-down traffic can be told apart; bytes are each event's line incl. newline.
    """
    from datetime import datetime

    total_bytes = events = 0
    by_level: Counter[str] = Counter()
    bytes_by_level: Counter[str] = Counter()
    by_stage: Counter[str] = Counter()
    by_resource: Counter[str] = Counter()
    by_verb: Counter[str] = Counter()
    audit_ids: set[str] = set()
    for line in iter_lines(paths):
        ev = json.loads(line)
        if window is not None:
            ts = ev.get("requestReceivedTimestamp")
            if ts is None:
                continue
            t = datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
            if not window[0] <= t <= window[1]:
                continue
        n = len(line) if line.endswith(b"\n") else len(line) + 1
        total_bytes += n
        events += 1
        level = ev.get("level", "?")
        by_level[level] += 1
        bytes_by_level[level] += n
        by_stage[ev.get("stage", "?")] += 1
        ref = ev.get("objectRef") or {}
        res = ref.get("resource")
        if res:
            res = f"{res}/{ref['subresource']}" if ref.get("subresource") else res
        else:
            res = "nonresource"
        by_resource[res] += 1
        by_verb[ev.get("verb", "?")] += 1
        audit_ids.add(ev.get("auditID", ""))
    return {
        "bytes": total_bytes,
        "events": events,
        "requests_audited": len(audit_ids),
        "by_level": dict(by_level),
        "bytes_by_level": dict(bytes_by_level),
        "by_stage": dict(by_stage),
        "by_resource": dict(by_resource.most_common()),
        "by_verb": dict(by_verb),
    }


def files_bytes(paths: list[Path]) -> int:
    """On-disk bytes of the files (compressed size for .gz backups)."""
    return sum(p.stat().st_size for p in paths if p.exists())
