"""A run's own capture: the audit log of a variant whose policy logs everything at RequestResponse.

Such a log holds every request with both bodies, so what-if and coverage can replay it
for every other policy of the run. The measurement keeps it (first repeat only, the
traffic window only, gzipped) as captures/<variant>-r<N>.log.gz in the run directory;
the report and the capacity plan read it back for coverage. Secret values in it are
overwritten first (redact.py), keeping every line's length.
"""

from __future__ import annotations

import gzip
import os
import re
import tempfile
from datetime import datetime
from pathlib import Path

from bench.logs.redact import redact_line
from bench.policy.loader import load_policy
from bench.policy.model import Policy

CAPTURE_DIR = "captures"
_TS = re.compile(rb'"requestReceivedTimestamp"\s*:\s*"([^"]+)"')


def is_full_capture(policy: Policy) -> bool:
    """The first rule matches every request at RequestResponse and keeps managed fields."""
    if not policy.rules:
        return False
    first = policy.rules[0]
    omf = policy.omit_managed_fields if first.omit_managed_fields is None else first.omit_managed_fields
    return first.is_catch_all() and first.level == "RequestResponse" and not omf


def capture_file(variant_id: str, repeat: int) -> str:
    return f"{CAPTURE_DIR}/{variant_id}-r{repeat}.log.gz"


def find_captures(run_dir: Path) -> list[Path]:
    return sorted((run_dir / CAPTURE_DIR).glob("*.log.gz"))


def _in_window(line: bytes, window: tuple[float, float]) -> bool:
    m = _TS.search(line)
    if m is None:
        return False
    t = datetime.fromisoformat(m.group(1).decode().replace("Z", "+00:00")).timestamp()
    return window[0] <= t <= window[1]


def keep(log_files: list[Path], policy_path: Path | None, window: tuple[float, float], run_dir: Path,
         variant_id: str, repeat: int) -> Path | None:
    """Save the window's events of a full-capture variant's log; None when the variant is not
    one, or a capture of it is already kept (one repeat is enough)."""
    if policy_path is None or not log_files or not is_full_capture(load_policy(policy_path)):
        return None
    existing = list((run_dir / CAPTURE_DIR).glob(f"{variant_id}-r*.log.gz"))
    if existing:
        return None
    target = run_dir / capture_file(variant_id, repeat)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        with gzip.open(tmp, "wb", compresslevel=6) as out:
            for path in log_files:
                opener = gzip.open if path.suffix == ".gz" else open
                with opener(path, "rb") as fh:  # type: ignore[operator]
                    for line in fh:
                        if line.strip() and _in_window(line, window):
                            out.write(redact_line(line if line.endswith(b"\n") else line + b"\n"))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
