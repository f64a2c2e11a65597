"""Measurement "process": apiserver and etcd CPU and memory from /proc, over the window.

CPU seconds are the difference of two readings taken at the window's edges (utime+stime
of the process tree; 10 ms clock ticks, so the error is a few hundredths of a second, not
the ±1 s of interpolating a 1 s sampler). Memory is sampled every second in between (RSS
peak and mean over the samples inside the window; VmHWM is the kernel's high-water mark
over the process's whole life). Each process's effective CPU list (every thread's
Cpus_allowed_list) is recorded, so pinning can be checked, not assumed.
"""

from __future__ import annotations

import time
from typing import Any

from bench.controlplane.affinity import effective_cpus
from bench.measure.base import BaseMeasurement, Context, Edge, register
from bench.measure.procstat import ProcSampler, read_tree

def thread_cpus(pid: int) -> list[int] | None:
    """Union of the CPUs every thread of ``pid`` may run on; None if it is gone."""
    try:
        return sorted(effective_cpus(pid).union())
    except ProcessLookupError:
        return None


def window_figures(edges: dict[str, tuple[float, float, int]], samples: list[tuple[float, float, int]],
                   start: float, end: float) -> dict[str, Any]:
    """CPU between the edge readings; RSS over the (unix t, cpu, rss) samples inside [start, end]."""
    cpu = None
    if "start" in edges and "end" in edges:
        cpu = round(edges["end"][1] - edges["start"][1], 3)
    inside = [s[2] for s in samples if start <= s[0] <= end]
    inside += [e[2] for e in edges.values()]
    return {
        "cpu_seconds": cpu,
        "rss_peak_bytes": max(inside) if inside else None,
        "rss_mean_bytes": round(sum(inside) / len(inside)) if inside else None,
        "samples_in_window": len(inside),
    }


@register
class ProcessMeasurement(BaseMeasurement):
    name = "process"
    needs = "process"  # the apiserver and etcd run on this machine
    components = ("apiserver", "etcd")

    def __init__(self) -> None:
        self.pids: dict[str, int] = {}
        self.sampler: ProcSampler | None = None
        self.t0 = 0.0  # unix time of the sampler's t = 0
        self.edges: dict[str, dict[str, tuple[float, float, int]]] = {}
        self.cpus: dict[str, list[int] | None] = {}

    def start(self, ctx: Context) -> None:
        self.pids = ctx.cluster.pids()
        self.cpus = {name: thread_cpus(pid) for name, pid in self.pids.items()}
        self.sampler = ProcSampler(self.pids).start()
        self.t0 = self.sampler.started_unix

    def edge(self, ctx: Context, edge: Edge) -> None:
        for name, pid in self.pids.items():
            sample = read_tree(pid)
            if sample is not None:
                self.edges.setdefault(name, {})[edge] = (time.time(), sample.cpu_seconds, sample.rss_bytes)
        if edge == "start":  # threads started since start() count too
            self.cpus = {name: thread_cpus(pid) or self.cpus.get(name) for name, pid in self.pids.items()}

    def stop(self, ctx: Context) -> None:
        if self.sampler is not None:
            self.sampler.stop()

    def collect(self, ctx: Context) -> dict[str, Any]:
        assert self.sampler is not None and ctx.window is not None
        series = self.sampler.result()
        out: dict[str, Any] = {}
        for name in self.pids:
            samples = [(self.t0 + t, cpu, rss) for t, cpu, rss in series[name]["samples"]]
            figures = window_figures(self.edges.get(name, {}), samples, ctx.window.start, ctx.window.end)
            figures["rss_hwm_bytes"] = series[name]["rss_hwm_bytes"]
            figures["cpus"] = self.cpus.get(name)
            figures["exited_during_run"] = bool(series[name]["exited"])
            out[name] = figures
        return out
