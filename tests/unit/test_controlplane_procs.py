"""Child processes: pinned and given their death signal before exec (no preexec_fn), stopped
with SIGTERM then SIGKILL, how each exited, stop retried after an interrupt, orphans reaped.

Real processes throughout (python and sleep), none of them the control plane.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from bench.controlplane import procs
from bench.controlplane.affinity import effective_cpus
from bench.controlplane.procs import Child, ExitInfo, exec_prefix, reap_orphans
from bench.errors import EnvironmentProblem

PY = sys.executable
# The child's very first statements: its affinity and its death signal, before it starts any thread.
_SELF_REPORT = ("import ctypes, json, os; s = ctypes.c_int(); ctypes.CDLL(None).prctl(2, ctypes.byref(s)); "
                "print(json.dumps({'cpus': sorted(os.sched_getaffinity(0)), 'pdeathsig': s.value}), flush=True)")


@pytest.fixture(autouse=True)
def _own_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDITBENCH_CACHE_DIR", str(tmp_path / "cache"))


def _one_cpu() -> set[int]:
    return {max(os.sched_getaffinity(0))}


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_gone(pids: list[int], timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if _alive(p)]


def test_exec_prefix_is_setpriv_then_taskset() -> None:
    prefix = exec_prefix({1, 2, 3, 5})
    assert [Path(prefix[0]).name, *prefix[1:4]] == ["setpriv", "--pdeathsig", "TERM", "--"]
    assert [Path(prefix[4]).name, *prefix[5:]] == ["taskset", "-c", "1-3,5"]
    assert [Path(p).name for p in exec_prefix(None)] == ["setpriv", "--pdeathsig", "TERM", "--"]
    assert [Path(p).name for p in exec_prefix({0}, die_with_parent=False)] == ["taskset", "-c", "0"]
    assert exec_prefix(set(), die_with_parent=False) == []


def test_missing_util_linux_is_an_environment_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EnvironmentProblem, match="setpriv is not on PATH"):
        exec_prefix({0})


def test_no_preexec_fn_and_own_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, object] = {}
    real = subprocess.Popen

    def spy(argv, **kwargs):
        seen.update(kwargs)
        return real(argv, **kwargs)

    def no_affinity_after_start(pid, cpus):
        raise AssertionError("affinity set from the parent after the child started")

    monkeypatch.setattr(procs.subprocess, "Popen", spy)
    monkeypatch.setattr(os, "sched_setaffinity", no_affinity_after_start)
    child = Child("true", ["true"], tmp_path / "true.log", cpus=_one_cpu()).start()
    child.wait()
    child.stop()
    assert seen.get("preexec_fn") is None and seen["start_new_session"] is True


def test_affinity_and_death_signal_hold_from_the_first_instruction(tmp_path: Path) -> None:
    # Set after start (the old way) the child could read its affinity before the parent set it;
    # set before exec, there is no window. Several starts, each read at once.
    cpus = _one_cpu()
    for i in range(5):
        log = tmp_path / f"report-{i}.log"
        child = Child(f"report-{i}", [PY, "-S", "-c", _SELF_REPORT], log, cpus=cpus).start()
        assert child.wait() == 0
        child.stop()
        report = json.loads(log.read_text())
        assert set(report["cpus"]) == cpus
        assert report["pdeathsig"] == signal.SIGTERM


def test_every_thread_of_a_pinned_child_is_inside_the_set(tmp_path: Path) -> None:
    cpus = _one_cpu()
    script = "import threading, time\nfor _ in range(4): threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\nprint('up', flush=True)\ntime.sleep(30)"
    child = Child("threads", [PY, "-c", script], tmp_path / "threads.log", cpus=cpus).start()
    try:
        deadline = time.monotonic() + 10
        while "up" not in (tmp_path / "threads.log").read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        got = effective_cpus(child.pid)
        assert len(got.threads) >= 5 and got.cpus == cpus and got.outside(cpus) == {}
    finally:
        child.stop(grace=2)


def test_start_refuses_a_worker_thread(tmp_path: Path) -> None:
    errors: list[BaseException] = []

    def start() -> None:
        try:
            Child("sleep", ["sleep", "5"], tmp_path / "s.log").start()
        except RuntimeError as exc:
            errors.append(exc)

    t = threading.Thread(target=start)
    t.start()
    t.join()
    assert errors and "main thread" in str(errors[0])


def test_exit_after_sigterm_is_clean(tmp_path: Path) -> None:
    child = Child("sleep", ["sleep", "30"], tmp_path / "s.log").start()
    info = child.stop(grace=5)
    assert info == ExitInfo("SIGTERM", False, -signal.SIGTERM, info.seconds)
    assert info.clean and info.seconds < 5
    assert child.stop() is info  # idempotent


def test_a_child_that_ignores_sigterm_is_killed_and_says_so(tmp_path: Path) -> None:
    script = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('ready', flush=True)\ntime.sleep(30)"
    child = Child("stubborn", [PY, "-c", script], tmp_path / "s.log").start()
    deadline = time.monotonic() + 10
    while "ready" not in (tmp_path / "s.log").read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    info = child.stop(grace=0.5)
    assert info is not None and info.killed and not info.clean
    assert info.signal_sent == "SIGTERM" and info.returncode == -signal.SIGKILL and info.seconds >= 0.5
    assert info.as_dict()["clean"] is False


def test_a_child_that_died_by_itself_is_not_clean(tmp_path: Path) -> None:
    child = Child("exit3", [PY, "-c", "raise SystemExit(3)"], tmp_path / "s.log").start()
    child.wait()
    info = child.stop()
    assert info == ExitInfo(None, False, 3, 0.0) and not info.clean


def test_stop_kills_the_whole_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    child = Child("sh", ["sh", "-c", f"sleep 60 & echo $! > {pids}; wait"], tmp_path / "s.log").start()
    deadline = time.monotonic() + 10
    while not pids.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    grandchild = int(pids.read_text())
    child.stop(grace=5)
    assert _wait_gone([grandchild]) == []


def test_an_interrupted_stop_is_redone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    child = Child("sleep", ["sleep", "30"], tmp_path / "s.log").start()
    assert child.proc is not None
    real_wait = child.proc.wait
    calls = {"n": 0}

    def interrupted_once(timeout=None):
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyboardInterrupt
        return real_wait(timeout)

    monkeypatch.setattr(child.proc, "wait", interrupted_once)
    with pytest.raises(KeyboardInterrupt):
        child.stop(grace=5)
    assert child.exit is None  # not marked stopped
    info = child.stop(grace=5)
    assert info is not None and info.signal_sent in ("SIGTERM", None) and not child.running()
    assert list((tmp_path / "cache" / "state" / "procs").glob("*.json")) == []


_HARNESS = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from bench.controlplane.procs import Child
    c = Child("sleep", ["sleep", "120"], Path(sys.argv[1]), cpus={int(sys.argv[2])}).start()
    print(c.pid, flush=True)
    time.sleep(120)
""")


def test_sigkill_of_the_harness_ends_the_child(tmp_path: Path) -> None:
    harness = subprocess.Popen([PY, "-c", _HARNESS, str(tmp_path / "s.log"), str(max(_one_cpu()))],
                               stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
    try:
        assert harness.stdout is not None
        pid = int(harness.stdout.readline())
        assert _alive(pid)
        harness.kill()
        harness.wait(10)
        assert _wait_gone([pid]) == [], "the child outlived its harness"
    finally:
        if harness.poll() is None:
            harness.kill()


def test_reap_orphans_kills_a_dead_harness_group_and_removes_its_scratch(tmp_path: Path) -> None:
    scratch, foreign = tmp_path / "auditbench-etcd-x", tmp_path / "not-ours"
    scratch.mkdir()
    foreign.mkdir()
    # A child whose harness is gone: started without the death signal, so only the reaper ends it.
    proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
    registry = tmp_path / "cache" / "state" / "procs"
    registry.mkdir(parents=True)
    (registry / f"{proc.pid}.json").write_text(json.dumps({
        "name": "etcd", "pid": proc.pid, "start": procs._start_time(proc.pid), "harness_pid": 4194305,  # above pid_max: never alive
        "harness_start": "0", "argv0": "sleep", "paths": [str(scratch), str(foreign)],
    }))
    try:
        assert reap_orphans() == [f"etcd (pid {proc.pid})"]
        assert proc.wait(5) == -signal.SIGTERM
        assert not scratch.exists() and foreign.exists()
        assert list(registry.iterdir()) == []
    finally:
        if proc.poll() is None:
            proc.kill()


def test_priority_is_set_before_exec_like_the_cpu_set():
    from bench.controlplane.procs import exec_prefix

    prefix = exec_prefix({1}, nice=-10)
    assert prefix[prefix.index("--") + 1].endswith("nice") and prefix[prefix.index("--") + 2:prefix.index("--") + 4] == ["-n", "-10"]
    assert prefix[-3].endswith("taskset")  # nice, then taskset, then the program
    assert not any(p.endswith("nice") for p in exec_prefix({1}))


def test_a_child_runs_at_the_priority_it_was_given(tmp_path):
    import os

    from bench.controlplane.procs import Child, measured_nice

    nice = measured_nice()
    want = nice if nice is not None else 5  # unprivileged: a lower priority is always allowed
    child = Child("sleeper", ["sleep", "5"], tmp_path / "s.log", nice=want).start()
    try:
        import time

        deadline = time.monotonic() + 5
        while os.getpriority(os.PRIO_PROCESS, child.pid) != want and time.monotonic() < deadline:
            time.sleep(0.02)  # setpriv and nice exec one after the other into sleep
        assert os.getpriority(os.PRIO_PROCESS, child.pid) == want
    finally:
        child.stop(grace=1.0)
