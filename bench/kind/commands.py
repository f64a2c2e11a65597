"""Running docker and kind: one injectable runner, and the preflight that turns a missing tool or
a silent docker engine into one EnvironmentProblem (exit 3) with what to do about it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Sequence

from bench.errors import EnvironmentProblem

# argv, timeout seconds -> completed process (text mode). Tests pass their own.
Runner = Callable[[Sequence[str], float], "subprocess.CompletedProcess[str]"]
Which = Callable[[str], "str | None"]


def run(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run a tool in its own process group; on a timeout or an interrupt the whole group is
    killed, so no `docker` client that kind started goes on running behind us."""
    try:
        proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
    except FileNotFoundError:
        raise EnvironmentProblem(f"{argv[0]} is not on PATH") from None
    try:
        out, err = proc.communicate(timeout=timeout)
    except BaseException as exc:
        _kill_group(proc)
        if isinstance(exc, subprocess.TimeoutExpired):
            raise EnvironmentProblem(f"`{' '.join(argv[:3])} …` did not finish in {timeout:.0f}s") from None
        raise
    return subprocess.CompletedProcess(list(argv), proc.returncode, out, err)


def _kill_group(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.communicate()


def preflight(runner: Runner = run, which: Which = shutil.which, *, kind_version: str) -> None:
    """kind and docker on PATH and a docker engine that answers, in that order."""
    if which("kind") is None:
        raise EnvironmentProblem("kind is not on PATH", f"go install sigs.k8s.io/kind@{kind_version}")
    if which("docker") is None:
        raise EnvironmentProblem("docker is not on PATH", "install Docker (the kind backend runs nodes as containers)")
    proc = runner(["docker", "info", "--format", "{{.ServerVersion}}"], 30.0)
    if proc.returncode != 0 or not proc.stdout.strip():
        detail = " ".join(proc.stderr.split())[:300] or "no server version"
        raise EnvironmentProblem(f"no docker engine answers ({detail})",
                                 "start the Docker daemon (or use the local backend: `auditbench up`)")


def checked(runner: Runner, argv: Sequence[str], timeout: float, what: str) -> str:
    """Run and return stdout; a failure is an EnvironmentProblem quoting the tool's last words."""
    proc = runner(argv, timeout)
    if proc.returncode != 0:
        tail = " ".join((proc.stderr or proc.stdout).split())[-500:]
        raise EnvironmentProblem(f"{what} failed (exit {proc.returncode}): {tail}", "`" + " ".join(argv) + "`")
    return proc.stdout
