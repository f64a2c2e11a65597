"""CPU and RSS of named processes (apiserver, etcd, load generator), sampled from /proc.

Each name covers a process and its live descendants. CPU is utime+stime+cutime+cstime of
every process in the tree: a child that exits and is reaped moves its time into its
parent's cutime/cstime, so the total stays continuous and nothing is counted twice.
RSS is the sum of VmRSS over the tree at each sample (a sampled peak, not a true one;
``rss_hwm_bytes`` is the root's own kernel-tracked high-water mark, over its whole life).

    with ProcSampler({"apiserver": pid1, "etcd": pid2}, interval=1.0) as sampler:
        ...traffic...
    figures = sampler.result()   # {name: {cpu_seconds, cpu_util, rss_peak_bytes, ...}}
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK")
_PROC = Path("/proc")


@dataclass(frozen=True)
class ProcSample:
    cpu_seconds: float  # utime+stime+cutime+cstime
    rss_bytes: int
    hwm_bytes: int


def read_pid(pid: int, proc: Path = _PROC) -> ProcSample | None:
    """One process's counters; None if it is gone (or a zombie without memory)."""
    try:
        stat = (proc / str(pid) / "stat").read_text()
        status = (proc / str(pid) / "status").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name is in parentheses and may contain spaces and ')': split after the last one.
    fields = stat[stat.rindex(")") + 2:].split()
    # fields[0] is field 3 (state); utime..cstime are fields 14..17.
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))
    rss = hwm = 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) * 1024
        elif line.startswith("VmHWM:"):
            hwm = int(line.split()[1]) * 1024
    return ProcSample(ticks / CLK_TCK, rss, hwm)


def children(pid: int, proc: Path = _PROC) -> list[int]:
    """Direct children, from /proc/<pid>/task/<tid>/children (every thread may have forked)."""
    kids: list[int] = []
    try:
        tasks = list((proc / str(pid) / "task").iterdir())
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return kids
    for task in tasks:
        try:
            kids += [int(p) for p in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return kids


def tree(pid: int, proc: Path = _PROC) -> list[int]:
    """``pid`` and all its live descendants."""
    seen: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.append(p)
        todo += children(p, proc)
    return seen


def read_tree(pid: int, proc: Path = _PROC) -> ProcSample | None:
    """Summed counters of ``pid`` and its descendants; None if ``pid`` itself is gone."""
    root = read_pid(pid, proc)
    if root is None:
        return None
    cpu, rss = root.cpu_seconds, root.rss_bytes
    for child in tree(pid, proc)[1:]:
        sample = read_pid(child, proc)
        if sample is not None:
            cpu += sample.cpu_seconds
            rss += sample.rss_bytes
    return ProcSample(cpu, rss, root.hwm_bytes)


@dataclass
class _Series:
    pid: int
    start_cpu: float | None = None
    hwm_bytes: int = 0
    exited: bool = False
    samples: list[tuple[float, float, int]] = field(default_factory=list)  # (t, cpu since start, rss)


class ProcSampler:
    """Samples named pids every ``interval`` seconds on a daemon thread between start and stop."""

    def __init__(self, pids: dict[str, int], interval: float = 1.0, proc: Path = _PROC) -> None:
        if interval <= 0:
            raise ValueError("interval must be > 0")
        self.interval = interval
        self._proc = proc
        self._series = {name: _Series(pid) for name, pid in pids.items()}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = 0.0
        self.started_unix = 0.0

    def add(self, name: str, pid: int) -> None:
        """Start following another process (e.g. a load generator started later)."""
        with self._lock:
            self._series[name] = _Series(pid)
            if self._thread is not None:
                self._sample_one(self._series[name], time.monotonic() - self._t0)

    def start(self) -> ProcSampler:
        self._t0 = time.monotonic()
        self.started_unix = time.time()  # a sample's unix time is started_unix + its t
        self.sample()
        self._thread = threading.Thread(target=self._run, daemon=True, name="procstat")
        self._thread.start()
        return self

    def stop(self) -> dict[str, dict[str, Any]]:
        """Take a last sample and return the figures (idempotent)."""
        if self._thread is not None and not self._stop.is_set():
            self._stop.set()
            self._thread.join()
            self.sample()
        return self.result()

    def __enter__(self) -> ProcSampler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        # Sample on a fixed grid from t0, so a slow read does not shift later samples.
        n = 1
        while not self._stop.wait(max(0.0, self._t0 + n * self.interval - time.monotonic())):
            self.sample()
            n = int((time.monotonic() - self._t0) / self.interval) + 1

    def sample(self) -> None:
        t = time.monotonic() - self._t0
        with self._lock:
            for series in self._series.values():
                self._sample_one(series, t)

    def _sample_one(self, series: _Series, t: float) -> None:
        if series.exited:
            return
        sample = read_tree(series.pid, self._proc)
        if sample is None:
            series.exited = True
            return
        if series.start_cpu is None:
            series.start_cpu = sample.cpu_seconds
        series.hwm_bytes = max(series.hwm_bytes, sample.hwm_bytes)
        series.samples.append((round(t, 3), round(sample.cpu_seconds - series.start_cpu, 3), sample.rss_bytes))

    def result(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {name: summarize(s.samples, s.hwm_bytes, s.exited) for name, s in self._series.items()}


def summarize(samples: list[tuple[float, float, int]], hwm_bytes: int = 0, exited: bool = False) -> dict[str, Any]:
    """Figures over one series of (t, cpu seconds since start, rss bytes) samples."""
    if not samples:
        return {"cpu_seconds": None, "cpu_util": None, "rss_peak_bytes": None, "rss_mean_bytes": None,
                "rss_hwm_bytes": hwm_bytes or None, "exited": exited, "samples": []}
    span = samples[-1][0] - samples[0][0]
    cpu = samples[-1][1] - samples[0][1]
    rss = [s[2] for s in samples]
    return {
        "cpu_seconds": round(cpu, 3),
        "cpu_util": round(cpu / span, 4) if span > 0 else None,
        "rss_peak_bytes": max(rss),
        "rss_mean_bytes": round(sum(rss) / len(rss)),
        "rss_hwm_bytes": hwm_bytes or None,
        "exited": exited,
        "samples": [list(s) for s in samples],
    }
