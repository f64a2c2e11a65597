"""Start-to-ready and stop times of the local backend (`auditbench controlplane bench`, and the
start-to-ready figure of `auditbench harness bench`)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.controlplane.audit import AuditSettings
from bench.controlplane.build import Binaries
from bench.controlplane.local import LocalCluster, StartTimings


@dataclass(frozen=True)
class StartStop:
    timings: StartTimings  # cumulative seconds from the start call to each step being ready
    stop_s: float  # SIGTERM to every child gone


def time_starts(starts: int, policy: Path, bins: Binaries,
                each: Callable[[int, StartStop], None] | None = None) -> list[StartStop]:
    """Start and stop a cluster ``starts`` times with ``policy``; ``each`` sees every cycle as it ends."""
    out = []
    for i in range(starts):
        cluster = LocalCluster(audit=AuditSettings(policy=policy.resolve()), binaries=bins)
        with cluster:
            t0 = time.monotonic()  # set when the body runs: the exit below is the stop
        cycle = StartStop(cluster.timings, time.monotonic() - t0)
        out.append(cycle)
        if each is not None:
            each(i, cycle)
    return out


def summary(cycles: list[StartStop]) -> dict[str, float]:
    ready = [c.timings.total_s for c in cycles]
    return {"starts": len(cycles), "ready_median_s": statistics.median(ready), "ready_min_s": min(ready),
            "ready_max_s": max(ready), "stop_median_s": statistics.median(c.stop_s for c in cycles)}
