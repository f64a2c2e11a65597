"""Verdicts that need evidence: supported, not supported, or inconclusive with the reason.

- "more" (RequestResponse costs more than Metadata): supported only when the ratio's
  interval lies above 1 (excludes 1); not supported when it lies at or below 1;
  otherwise inconclusive.
- "no more than X" (Metadata is cheap: p99 within 10% of no audit): an equivalence
  claim, supported only when the whole interval lies at or below X; not supported when
  the whole interval lies above X; otherwise inconclusive.
- "at least X" (RequestResponse writes at least 2x the bytes): supported when the whole
  interval is at or above X, not supported when it is below X.
Any verdict needs at least MIN_REPEATS repeats; fewer is inconclusive, whatever the
point estimate says.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.analysis.paired import Ratio

SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE = "supported", "not supported", "inconclusive"
MIN_REPEATS = 3
MIN_REPEATS_GATE = 5  # a CI gate on a ratio or a latency


@dataclass(frozen=True)
class Verdict:
    status: str
    reason: str

    def __str__(self) -> str:
        return f"{self.status} ({self.reason})" if self.reason else self.status


def _interval(r: Ratio) -> str:
    return f"[{r.low:.3g}, {r.high:.3g}]" if r.has_interval else "no interval"


def _evidence(r: Ratio | None, min_repeats: int) -> Verdict | None:
    if r is None or r.value is None:
        return Verdict(INCONCLUSIVE, "not measured")
    if r.n < min_repeats:
        return Verdict(INCONCLUSIVE, f"{r.n} repeat(s), a verdict needs at least {min_repeats}")
    if not r.has_interval:
        return Verdict(INCONCLUSIVE, r.note or "no interval")
    return None


def more(r: Ratio | None, min_repeats: int = MIN_REPEATS) -> Verdict:
    if (missing := _evidence(r, min_repeats)) is not None:
        return missing
    assert r is not None and r.low is not None and r.high is not None
    if r.low > 1:
        return Verdict(SUPPORTED, f"interval {_interval(r)} above 1")
    if r.high <= 1:
        return Verdict(NOT_SUPPORTED, f"interval {_interval(r)} at or below 1")
    return Verdict(INCONCLUSIVE, f"interval {_interval(r)} includes 1")


def at_most(r: Ratio | None, bound: float, min_repeats: int = MIN_REPEATS) -> Verdict:
    if (missing := _evidence(r, min_repeats)) is not None:
        return missing
    assert r is not None and r.low is not None and r.high is not None
    if r.high <= bound:
        return Verdict(SUPPORTED, f"interval {_interval(r)} within {bound:g}")
    if r.low > bound:
        return Verdict(NOT_SUPPORTED, f"interval {_interval(r)} above {bound:g}")
    return Verdict(INCONCLUSIVE, f"interval {_interval(r)} crosses {bound:g}")


def at_least(r: Ratio | None, bound: float, min_repeats: int = MIN_REPEATS) -> Verdict:
    if (missing := _evidence(r, min_repeats)) is not None:
        return missing
    assert r is not None and r.low is not None and r.high is not None
    if r.low >= bound:
        return Verdict(SUPPORTED, f"interval {_interval(r)} at or above {bound:g}")
    if r.high < bound:
        return Verdict(NOT_SUPPORTED, f"interval {_interval(r)} below {bound:g}")
    return Verdict(INCONCLUSIVE, f"interval {_interval(r)} crosses {bound:g}")


def combine(*verdicts: Verdict) -> Verdict:
    """All parts of a claim must hold: any "not supported" wins, then any "inconclusive"."""
    for status in (NOT_SUPPORTED, INCONCLUSIVE):
        for v in verdicts:
            if v.status == status:
                return v
    return Verdict(SUPPORTED, "; ".join(v.reason for v in verdicts))
