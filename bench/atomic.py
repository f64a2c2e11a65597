"""Atomic file writes: a crash or Ctrl-C never leaves a half-written result."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_bytes(path: str | Path, data: bytes, mode: int = 0o644) -> Path:
    """Write to a temp file in the same dir, fsync, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def write_text(path: str | Path, text: str, mode: int = 0o644) -> Path:
    return write_bytes(path, text.encode("utf-8"), mode)


def write_json(path: str | Path, doc: Any, mode: int = 0o644) -> Path:
    return write_text(path, json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n", mode)
