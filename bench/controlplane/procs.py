"""Child processes that never outlive the harness.

Three layers, because any one can fail: (1) each child runs in its own process group
(``start_new_session``) and is exec'd through util-linux's ``setpriv --pdeathsig TERM``, so the
kernel signals it when the harness dies, even by SIGKILL; (2) stop() sends SIGTERM to the
group, then SIGKILL after a grace period, and is registered for exceptions, Ctrl-C, SIGTERM
(bench.signals) and interpreter exit; (3) a registry file per child lets `auditbench cleanup`
(and every cluster start) reap groups whose harness is gone, and remove their scratch.

Why no preexec_fn: it runs Python between fork and exec, in a copy of a parent whose other
threads (samplers, scrapers, pipe readers) may hold locks it needs; Python documents it as
unsafe in threaded programs. setpriv and taskset do the same work after fork in a process
with one thread, then exec; the death signal and the CPU affinity both survive exec, so the
child's first instruction, and every thread it ever starts, already run under them.

The death signal's caveat (PR_SET_PDEATHSIG, prctl(2)): it fires when the *thread* that forked
the child exits, not the process. Children are therefore started from the main thread only
(Child.start refuses any other), whose exit is the harness's exit. The webhook receiver, which
may be driven from elsewhere, watches its stdin and parent pid instead (bench.webhook.server).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.controlplane.affinity import format_cpu_list
from bench.errors import EnvironmentProblem
from bench.paths import cache_root

_OWNED_PREFIX = "auditbench-"  # reap_orphans removes only paths it could have created


def _registry() -> Path:
    path = cache_root() / "state" / "procs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise EnvironmentProblem(f"{name} is not on PATH; auditbench starts its processes through it",
                                 "install util-linux (scripts/system-deps.sh does)")
    return path


def exec_prefix(cpus: Iterable[int] | None = None, *, die_with_parent: bool = True,
                nice: int | None = None) -> list[str]:
    """What goes in front of a child's argv: ``setpriv --pdeathsig TERM --`` (unless
    ``die_with_parent`` is off), ``nice -n N`` (when ``nice`` is given: a thread's priority is
    inherited by the threads it starts, so it must be set before exec too) and
    ``taskset -c LIST`` (when ``cpus`` is given)."""
    prefix: list[str] = []
    if die_with_parent:
        prefix += [_tool("setpriv"), "--pdeathsig", "TERM", "--"]
    if nice is not None:
        prefix += [_tool("nice"), "-n", str(nice)]
    cpu_set = set(cpus or ())
    if cpu_set:
        prefix += [_tool("taskset"), "-c", format_cpu_list(cpu_set)]  # taskset takes no "--"
    return prefix


def _start_time(pid: int) -> str | None:
    """Kernel start time of a pid (field 22 of /proc/pid/stat): tells reused pids apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _alive(pid: int, start: str | None) -> bool:
    return start is not None and _start_time(pid) == start


@dataclass(frozen=True)
class ExitInfo:
    """How a child ended when stop() was called.

    ``signal_sent`` is "SIGTERM" when stop() asked it to exit, None when it had already exited by
    itself (crashed, or killed by someone else). ``killed``: it was still running after the grace
    period and got SIGKILL, so its shutdown work (for kube-apiserver: flushing the audit
    backends) did not finish. ``returncode`` as Popen reports it (-N: ended by signal N);
    ``seconds`` from the SIGTERM to its exit."""

    signal_sent: str | None
    killed: bool
    returncode: int | None
    seconds: float

    @property
    def clean(self) -> bool:
        """Exited after SIGTERM within the grace period: its shutdown handlers ran to the end."""
        return self.signal_sent == "SIGTERM" and not self.killed

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "clean": self.clean}


@dataclass
class Child:
    """One child process in its own group. ``cpus``: the CPU set it (and every thread it starts)
    runs on, set before exec. ``owned_paths``: scratch that reap_orphans removes once this child's
    harness is gone (names must start with "auditbench-")."""

    name: str
    argv: list[str]
    log_path: Path
    env: dict[str, str] | None = None
    cpus: set[int] | None = None
    nice: int | None = None  # scheduling priority, set before exec (bench.measure.variant: measured processes)
    cwd: Path | None = None
    owned_paths: tuple[Path, ...] = ()
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    exit: ExitInfo | None = field(default=None, repr=False)
    _record: Path | None = field(default=None, repr=False)

    def start(self) -> Child:
        if threading.current_thread() is not threading.main_thread():
            # PR_SET_PDEATHSIG would fire when this thread ends, killing the child early.
            raise RuntimeError(f"start {self.name} from the main thread (see bench.controlplane.procs)")
        argv = exec_prefix(self.cpus, nice=self.nice) + self.argv
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=self.env, cwd=self.cwd, start_new_session=True,
            )
        finally:
            log.close()
        self._record = _registry() / f"{self.proc.pid}.json"
        self._record.write_text(json.dumps({
            "name": self.name,
            "pid": self.proc.pid,
            "start": _start_time(self.proc.pid),
            "harness_pid": os.getpid(),
            "harness_start": _start_time(os.getpid()),
            "argv0": self.argv[0],
            "paths": [str(p) for p in self.owned_paths],
        }))
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait(self) -> int:
        """Wait for the child to exit by itself; its return code."""
        assert self.proc is not None
        return self.proc.wait()

    def stop(self, grace: float = 10.0) -> ExitInfo | None:
        """SIGTERM the group, wait up to ``grace`` s, then SIGKILL. Idempotent: once it has
        completed, later calls return the same ExitInfo; an interrupted stop is redone in full."""
        if self.proc is None:
            return None
        if self.exit is not None:
            return self.exit
        sent, killed, started = None, False, time.monotonic()
        if self.proc.poll() is None:
            sent = "SIGTERM"
            _signal_group(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                killed = True
                _signal_group(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        seconds = time.monotonic() - started if sent else 0.0
        # The leader may be gone while group members linger.
        _signal_group(self.proc.pid, signal.SIGKILL)
        if self._record is not None:
            self._record.unlink(missing_ok=True)
        self.exit = ExitInfo(sent, killed, self.proc.returncode, round(seconds, 3))
        return self.exit


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _remove_owned(paths: list[str]) -> None:
    for raw in paths:
        path = Path(raw)
        if path.name.startswith(_OWNED_PREFIX) and path.is_absolute():
            shutil.rmtree(path, ignore_errors=True)


def reap_orphans() -> list[str]:
    """Kill process groups whose harness died without cleaning up, and remove the scratch they
    owned. Returns what was killed."""
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
        _remove_owned(rec.get("paths", []))
        record_path.unlink(missing_ok=True)
    return killed



MEASURED_NICE = -10  # measured processes outrank unrelated work on a shared machine


def measured_nice() -> int | None:
    """The priority to give measured processes: MEASURED_NICE where this process may raise
    priorities (root, or CAP_SYS_NICE), else None (nothing changed)."""
    try:
        current = os.getpriority(os.PRIO_PROCESS, 0)
        os.setpriority(os.PRIO_PROCESS, 0, current - 1)  # probe: only a privileged process may
        os.setpriority(os.PRIO_PROCESS, 0, current)
    except PermissionError:
        return None
    return MEASURED_NICE
