"""CPU lists: the kernel's "0-3,8,10-11" format, and what a running process is allowed to use.

The measurement pins the control plane and the load side to disjoint CPU sets (design.md,
"Noise control"). effective_cpus() reads back what each process, and each of its threads,
actually got, from /proc/<pid>/status and /proc/<pid>/task/<tid>/status (Cpus_allowed_list),
so the result's metadata records the sets that held rather than the ones asked for.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


def parse_cpu_list(text: str) -> frozenset[int]:
    """``"0-2,5"`` -> {0, 1, 2, 5}. An empty string is the empty set."""
    cpus: set[int] = set()
    for part in text.strip().split(","):
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        first, last = int(lo), int(hi) if sep else int(lo)
        if last < first or first < 0:
            raise ValueError(f"bad CPU range {part!r} in {text!r}")
        cpus.update(range(first, last + 1))
    return frozenset(cpus)


def format_cpu_list(cpus: Iterable[int]) -> str:
    """{0, 1, 2, 5} -> ``"0-2,5"``: the format taskset -c and Cpus_allowed_list use."""
    ordered = sorted(set(cpus))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def _allowed(status: Path) -> frozenset[int] | None:
    try:
        text = status.read_text()
    except OSError:  # the process or thread ended while we read
        return None
    for line in text.splitlines():
        if line.startswith("Cpus_allowed_list:"):
            return parse_cpu_list(line.split(":", 1)[1])
    return None


@dataclass(frozen=True)
class ProcessCpus:
    """The CPUs one process may run on: its own list and each live thread's."""

    pid: int
    cpus: frozenset[int]
    threads: dict[int, frozenset[int]]  # tid -> Cpus_allowed_list

    def union(self) -> frozenset[int]:
        out = set(self.cpus)
        for cpus in self.threads.values():
            out |= cpus
        return frozenset(out)

    def outside(self, allowed: Iterable[int]) -> dict[int, frozenset[int]]:
        """Threads (tid -> list) that may run on a CPU outside ``allowed``; empty when all are inside."""
        ok = set(allowed)
        return {tid: cpus for tid, cpus in self.threads.items() if not cpus <= ok}

    def as_metadata(self) -> dict[str, object]:
        """Flat, JSON-ready: the process's list, how many threads, and every distinct thread list."""
        return {
            "cpus": format_cpu_list(self.cpus),
            "threads": len(self.threads),
            "thread_cpus": sorted({format_cpu_list(c) for c in self.threads.values()}),
        }


def effective_cpus(pid: int, proc: Path = PROC) -> ProcessCpus:
    """Read a live process's CPU list and its threads'. Raises ProcessLookupError if it is gone."""
    own = _allowed(proc / str(pid) / "status")
    if own is None:
        raise ProcessLookupError(pid)
    threads: dict[int, frozenset[int]] = {}
    try:
        tids = [p.name for p in (proc / str(pid) / "task").iterdir()]
    except OSError:
        tids = []
    for tid in tids:
        if tid.isdigit() and (cpus := _allowed(proc / str(pid) / "task" / tid / "status")) is not None:
            threads[int(tid)] = cpus
    return ProcessCpus(pid, own, threads)
