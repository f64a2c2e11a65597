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


def check_writable(path: Path) -> None:
    """Make sure, before any long work, that the harness can write ``path`` (a results root),
    and fail with one line if the machine refuses. Leaves nothing behind: directories it had
    to create for the check are removed again."""
    from bench.errors import EnvironmentProblem

    created: list[Path] = []
    try:
        missing = [p for p in [path, *path.parents] if not p.exists()]
        for d in reversed(missing):
            d.mkdir()
            created.append(d)
        probe = path / f".auditbench-write-check-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise EnvironmentProblem(f"{path}: cannot write results here ({exc.strerror or exc})",
                                 "set AUDITBENCH_RESULTS_DIR or --results-dir to a writable directory") from None
    finally:
        for d in reversed(created):
            try:
                d.rmdir()
            except OSError:
                pass
