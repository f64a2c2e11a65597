"""Ctrl-C or SIGTERM during the control-plane build leaves no `go build` behind.

A fake `go` on PATH stands in for the ten-minute build: it starts a child (as go starts
compile and link) and waits. The real entry point runs `controlplane build` or `run` against an
empty cache; once the fake build is under way the harness gets SIGTERM or SIGINT, and
afterwards no process of the fake build may be left.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from bench.paths import project_root
from tests.cliutil import DEFAULT_SIGINT

_FAKE_GO = """#!/bin/sh
if [ "$1" = version ]; then echo "go version go1.26.0 linux/amd64"; exit 0; fi
echo "$$" >> "$FAKE_GO_PIDS"
sleep 300 &
echo "$!" >> "$FAKE_GO_PIDS"
wait
"""


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _marked(marker: str) -> list[int]:
    """Processes whose environment carries this test's marker: the fake build's, nothing else."""
    found = []
    for p in psutil.process_iter(["environ"]):
        try:
            if (p.info["environ"] or {}).get("FAKE_GO_PIDS") == marker and p.status() != psutil.STATUS_ZOMBIE:
                found.append(p.pid)
        except (psutil.Error, TypeError):
            continue
    return found


@pytest.mark.parametrize("command", [["controlplane", "build", "--force"], ["run", "scenarios/smoke.yaml"]],
                         ids=["controlplane-build", "run"])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_interrupting_the_build_kills_its_process_group(command: list[str], sig: signal.Signals, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "go").write_text(_FAKE_GO)
    (bin_dir / "go").chmod(0o755)
    pids_file = tmp_path / "go-pids"
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "FAKE_GO_PIDS": str(pids_file),
           "AUDITBENCH_CACHE_DIR": str(tmp_path / "cache"), "AUDITBENCH_RESULTS_DIR": str(tmp_path / "results")}
    env.pop("AUDITBENCH_BIN_DIR", None)
    harness = subprocess.Popen([*DEFAULT_SIGINT, sys.executable, "-m", "bench.cli", *command], cwd=project_root(), env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(pids_file.read_text().split() if pids_file.exists() else []) < 2:
            assert harness.poll() is None, harness.communicate()[0]
            time.sleep(0.1)
        go, compile_ = (int(p) for p in pids_file.read_text().split())
        assert _alive(go) and _alive(compile_)
        harness.send_signal(sig)
        out, _ = harness.communicate(timeout=30)
        assert harness.returncode == (128 + signal.SIGTERM if sig == signal.SIGTERM else 130), out
        assert "Traceback" not in out, out
        if command[0] == "run":
            # The results root is checked (created) before the build; no run directory may exist in it.
            results = tmp_path / "results"
            assert not results.exists() or not any(results.iterdir()), "a run started before the binaries existed"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (_alive(go) or _alive(compile_)):
            time.sleep(0.05)
        assert not _alive(go) and not _alive(compile_), "the build outlived the harness"
        assert _marked(str(pids_file)) == []
    finally:
        if harness.poll() is None:
            harness.kill()
        for pid in _marked(str(pids_file)):
            os.kill(pid, signal.SIGKILL)
