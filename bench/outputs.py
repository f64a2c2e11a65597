"""Output paths a user names on the command line, checked before any work starts.

A directory that cannot be created or written is the user's to fix, so it is refused
up front as bad input (one line naming the flag, exit 2), not found after a long run.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.errors import InputError


def output_dir(path: Path, flag: str) -> Path:
    """Create ``path`` (and its parents) and prove a file can be written in it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".auditbench-probe-"):
            pass
    except OSError as exc:
        raise InputError(path, flag, f"cannot write here: {exc.strerror or exc}") from None
    return path


def output_file(path: Path, flag: str) -> Path:
    """A file to be written: its directory must be writable, and it must not be a directory."""
    if path.is_dir():
        raise InputError(path, flag, "is a directory; give a file path")
    output_dir(path.parent, flag)
    return path
