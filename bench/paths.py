"""Where auditbench keeps its caches and results."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """Per-user cache dir (XDG), overridable with AUDITBENCH_CACHE_DIR."""
    explicit = os.environ.get("AUDITBENCH_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "auditbench"


def project_root() -> Path:
    """The checkout this package runs from (for policies/, scenarios/, controlplane/)."""
    return Path(__file__).resolve().parent.parent


def results_root() -> Path:
    explicit = os.environ.get("AUDITBENCH_RESULTS_DIR")
    return Path(explicit) if explicit else Path.cwd() / "results"
