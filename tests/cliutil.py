"""Run the installed `auditbench` console script, as a user would, and check its failure shape."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

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


@dataclass(frozen=True)
class Outcome:
    returncode: int
    stdout: str
    stderr: str


def run_main(args: list[str], capsys: pytest.CaptureFixture[str]) -> Outcome:
    """`auditbench ARGS` through bench.cli.main in this process (the same code path as the
    console script, without an interpreter start per case)."""
    from bench.cli import main

    with pytest.raises(SystemExit) as exc:
        main(args)
    out = capsys.readouterr()
    code = exc.value.code
    return Outcome(code if isinstance(code, int) else (0 if code is None else 1), out.out, out.err)


def assert_one_line_error(proc: subprocess.CompletedProcess[str] | Outcome, code: int, *fragments: str) -> str:
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


# Prefix for a child that must see SIGINT as a terminal would: started with SIGINT at its
# default even when the tests run under a shell that ignores it (a background job, where
# Python would otherwise never raise KeyboardInterrupt).
DEFAULT_SIGINT = [sys.executable, "-c", "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                  "os.execv(sys.argv[1], sys.argv[1:])"]
