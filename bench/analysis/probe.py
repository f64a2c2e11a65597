"""Capacity: the highest offered open-loop rate a variant sustains.

A step at rate R passes when the achieved rate stays within ``tolerance`` (2%) of R, the
p99 latency of the SLO request set (mutations and single-object reads, from each
request's scheduled start: no coordinated omission) stays under the SLO (ClusterLoader2's
1 s by default), and no more than MAX_ERROR_RATE of the requests fail. The search ramps
geometrically from a start rate until a step fails, then bisects (geometric midpoints)
between the last passing and the first failing rate until they are within ``precision``.
The capacity is the highest passing rate: a lower bound, accurate to ``precision``.

Pure: the step runner is passed in, so the search is tested against a model server.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

TOLERANCE = 0.02
MAX_ERROR_RATE = 0.01
RAMP = 2.0
MAX_STEPS = 14


@dataclass(frozen=True)
class Step:
    target_rps: float
    achieved_rps: float
    p99_ms: float | None  # SLO request set, from the schedule
    error_rate: float
    passed: bool = False
    reason: str = ""


def judge(target: float, achieved: float, p99_ms: float | None, error_rate: float, slo_s: float,
          tolerance: float = TOLERANCE) -> Step:
    """One step's verdict, with the first reason it failed."""
    reasons = []
    if achieved < target * (1 - tolerance):
        reasons.append(f"achieved {achieved:.1f} req/s < {1 - tolerance:.0%} of {target:.1f}")
    if p99_ms is None:
        reasons.append("no successful SLO requests")
    elif p99_ms > slo_s * 1000:
        reasons.append(f"p99 {p99_ms:.0f} ms > SLO {slo_s * 1000:.0f} ms")
    if error_rate > MAX_ERROR_RATE:
        reasons.append(f"{error_rate:.1%} of requests failed")
    return Step(target, achieved, p99_ms, error_rate, not reasons, "; ".join(reasons))


@dataclass
class ProbeResult:
    capacity_rps: float | None  # None: even the start rate failed
    slo_s: float
    steps: list[Step] = field(default_factory=list)
    bracket: tuple[float | None, float | None] = (None, None)  # (highest pass, lowest fail)
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"capacity_rps": self.capacity_rps, "slo_s": self.slo_s, "bracket": list(self.bracket),
                "note": self.note, "steps": [asdict(s) for s in self.steps]}


def search(run_step: Callable[[float], Step], start_rps: float, max_rps: float, slo_s: float,
           precision: float = 0.05, max_steps: int = MAX_STEPS) -> ProbeResult:
    steps: list[Step] = []
    lo: float | None = None
    hi: float | None = None
    rate = start_rps
    while len(steps) < max_steps:
        step = run_step(rate)
        steps.append(step)
        if step.passed:
            lo = rate
        else:
            hi = rate
        if hi is None:
            if rate >= max_rps:
                return ProbeResult(lo, slo_s, steps, (lo, hi), f"passed at the maximum probed rate {max_rps:g} req/s")
            rate = min(rate * RAMP, max_rps)
            continue
        if lo is None:
            return ProbeResult(None, slo_s, steps, (lo, hi), f"failed at the start rate {start_rps:g} req/s")
        if hi / lo - 1 <= precision:
            break
        rate = math.sqrt(lo * hi)
    note = "" if hi is None or lo is None or hi / lo - 1 <= precision else f"stopped after {max_steps} steps"
    return ProbeResult(lo, slo_s, steps, (lo, hi), note)
