"""Run the installed `auditbench` console script, as a user would, and check its failure shape."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from bench.paths import project_root


def entry_point() -> list[str]:
    """The console script `pip install` made next to this interpreter (the real entry point)."""
    script = Path(sys.executable).with_name("auditbench")
    if script.is_file():
        return [str(script)]
    found = shutil.which("auditbench")
    if found is None:
        raise RuntimeError("the auditbench console script is not installed (run `make setup`)")
    return [found]


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    full_env.setdefault("COLUMNS", "200")  # keep messages on one line whatever the terminal
    return subprocess.run([*entry_point(), *args], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd or project_root(), env=full_env)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], code: int, *fragments: str) -> str:
    """Exit ``code``, no traceback, and stderr's one line names every fragment; returns the line."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert len(lines) == 1, proc.stderr
    line = lines[0]
    assert line.startswith("error: "), line
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    return line
