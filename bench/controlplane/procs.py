"""Child processes that never outlive the harness.

Three layers, because any one can fail: (1) each child runs in its own process group
and gets PR_SET_PDEATHSIG, so the kernel signals it when the harness dies, even by
SIGKILL; (2) stop() sends SIGTERM to the group, then SIGKILL after a grace period, and
is registered for exceptions, Ctrl-C and interpreter exit; (3) a registry file per child
lets `auditbench cleanup` (and every cluster start) reap groups whose harness is gone.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.paths import cache_root

_PR_SET_PDEATHSIG = 1


def _registry() -> Path:
    path = cache_root() / "state" / "procs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _die_with_parent() -> None:
    # Runs in the child between fork and exec.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _start_time(pid: int) -> str | None:
    """Kernel start time of a pid (field 22 of /proc/pid/stat): tells reused pids apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _alive(pid: int, start: str | None) -> bool:
    return start is not None and _start_time(pid) == start


@dataclass
class Child:
    name: str
    argv: list[str]
    log_path: Path
    env: dict[str, str] | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _record: Path | None = field(default=None, repr=False)

    def start(self) -> Child:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=self.env, start_new_session=True, preexec_fn=_die_with_parent,
            )
        finally:
            log.close()
        self._record = _registry() / f"{self.proc.pid}.json"
        self._record.write_text(
            json.dumps(
                {
                    "name": self.name,
                    "pid": self.proc.pid,
                    "start": _start_time(self.proc.pid),
                    "harness_pid": os.getpid(),
                    "harness_start": _start_time(os.getpid()),
                    "argv0": self.argv[0],
                }
            )
        )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, grace: float = 10.0) -> int | None:
        """SIGTERM the group, wait, then SIGKILL. Idempotent."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            _signal_group(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                _signal_group(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        # The leader may be gone while group members linger.
        _signal_group(self.proc.pid, signal.SIGKILL)
        if self._record is not None:
            self._record.unlink(missing_ok=True)
        return self.proc.returncode


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def reap_orphans() -> list[str]:
    """Kill process groups whose harness died without cleaning up. Returns what was killed."""
    killed = []
    for record_path in _registry().glob("*.json"):
        try:
            rec = json.loads(record_path.read_text())
        except (OSError, ValueError):
            record_path.unlink(missing_ok=True)
            continue
        if _alive(rec["harness_pid"], rec["harness_start"]):
            continue  # another live harness owns it
        if _alive(rec["pid"], rec["start"]):
            _signal_group(rec["pid"], signal.SIGTERM)
            deadline = time.monotonic() + 5
            while _alive(rec["pid"], rec["start"]) and time.monotonic() < deadline:
                time.sleep(0.1)
            _signal_group(rec["pid"], signal.SIGKILL)
            killed.append(f"{rec['name']} (pid {rec['pid']})")
        record_path.unlink(missing_ok=True)
    return killed
