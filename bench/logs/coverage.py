"""Which detections a policy still lets you run: replayed from one RequestResponse capture.

A detection *finds* the captured events it selects (the capture logs every request at
RequestResponse, so everything a detection can read is there). Under a candidate policy
such an event is *kept* when:

- the policy logs the request (level not None) and does not omit the event's stage,
- every field the detection read in the capture is still in the event as that level
  writes it (whatif.relevel: requestObject needs Request, responseObject RequestResponse,
  omitManagedFields drops managedFields), and
- the detection still selects the re-levelled event.

A request is kept when at least one of its events is: an alert fires once per request,
and a request's RequestReceived and ResponseComplete events carry the same objectRef, so
omitting one stage loses no request. Missed requests are grouped by reason (not logged,
stage omitted, a field not logged at that level) with example events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.detections.fields import ERROR
from bench.detections.model import Detection
from bench.logs.detect import finding_summary
from bench.logs.whatif import relevel
from bench.policy.checker import Decision
from bench.policy.model import Policy

CHUNK = 4096  # events buffered between batch evaluations (SQL detections run per batch)


@dataclass(frozen=True)
class FoundEvent:
    """A captured event a detection selects, with each candidate policy's decision for it."""

    detection: int
    event: Mapping[str, Any]
    decisions: tuple[Decision, ...]
    tag: int = 0  # the caller's own reference to the event (records.py: its request attributes)

    @property
    def audit_id(self) -> str:
        return str(self.event.get("auditID"))

    @property
    def stage(self) -> str:
        return str(self.event.get("stage"))


class Collector:
    """Finds each detection's events in a stream of (event, decisions); pass ``observe``
    to whatif.predict so one pass gives bytes and coverage."""

    def __init__(self, detections: Sequence[Detection]) -> None:
        self.detections = list(detections)
        self.found: list[FoundEvent] = []
        self._buffer: list[tuple[Mapping[str, Any], tuple[Decision, ...], int]] = []

    def observe(self, event: Mapping[str, Any], decisions: Sequence[Decision], tag: int = 0) -> None:
        self._buffer.append((event, tuple(decisions), tag))
        if len(self._buffer) >= CHUNK:
            self._flush()

    def _flush(self) -> None:
        buf, self._buffer = self._buffer, []
        for di, det in enumerate(self.detections):
            seen = [item for item in buf if det.sees(str(item[0].get("stage")))]
            hits = det.evaluate([det.values(ev) for ev, _, _ in seen])
            self.found += [FoundEvent(di, ev, ds, tag) for (ev, ds, tag), hit in zip(seen, hits) if hit]

    def finish(self) -> list[FoundEvent]:
        self._flush()
        return sorted(self.found, key=lambda f: f.detection)


# --- judging one policy ------------------------------------------------------------------


def _rule(decision: Decision) -> str:
    return "no rule matches" if decision.rule_index is None else f"rules[{decision.rule_index}]"


def _lost_fields(det: Detection, before: tuple[Any, ...], after: tuple[Any, ...]) -> list[str]:
    return [p.text for p, a, b in zip(det.reads, before, after)
            if a is not None and a is not ERROR and (b is None or b is ERROR)]


@dataclass
class _Verdict:
    kept: bool
    reason: str | None = None


def judge(found: Sequence[FoundEvent], detections: Sequence[Detection], policy_index: int) -> list[_Verdict]:
    """Kept or not (with the reason) for each found event under one policy."""
    verdicts: list[_Verdict | None] = [None] * len(found)
    pending: dict[int, list[tuple[int, tuple[Any, ...], str]]] = {}
    for i, f in enumerate(found):
        d = f.decisions[policy_index]
        if d.level == "None":
            verdicts[i] = _Verdict(False, f"not logged ({_rule(d)}: level None)")
            continue
        if f.stage in d.omit_stages:
            verdicts[i] = _Verdict(False, f"{f.stage} omitted ({_rule(d)})")
            continue
        det = detections[f.detection]
        before = det.values(f.event)
        after = det.values(relevel(f.event, d.level, d.omit_managed_fields))
        lost = _lost_fields(det, before, after)
        if lost:
            verdicts[i] = _Verdict(False, f"{', '.join(lost)} not logged at {d.level} ({_rule(d)})")
            continue
        pending.setdefault(f.detection, []).append((i, after, f"no longer selected at {d.level} ({_rule(d)})"))
    for di, rows in pending.items():
        hits = detections[di].evaluate([after for _, after, _ in rows])
        for (i, _, why), hit in zip(rows, hits):
            verdicts[i] = _Verdict(True) if hit else _Verdict(False, why)
    return [v for v in verdicts if v is not None]


# --- per detection summaries ---------------------------------------------------------------


@dataclass
class MissedGroup:
    reason: str
    requests: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class DetectionCoverage:
    name: str
    title: str
    expression: str
    reads: list[str]
    found_events: int = 0
    found_requests: int = 0
    kept_events: int = 0
    kept_requests: int = 0
    missed: list[MissedGroup] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.kept_requests == self.found_requests

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "title": self.title, "expression": self.expression, "reads": self.reads,
            "found": {"requests": self.found_requests, "events": self.found_events},
            "kept": {"requests": self.kept_requests, "events": self.kept_events},
            "missed": {"requests": self.found_requests - self.kept_requests,
                       "by_reason": [{"reason": g.reason, "requests": g.requests, "examples": g.examples}
                                     for g in self.missed]},
            "complete": self.complete,
        }


@dataclass
class PolicyCoverage:
    policy: str
    detections: list[DetectionCoverage]

    @property
    def complete(self) -> bool:
        return all(d.complete for d in self.detections)

    def to_json(self) -> dict[str, Any]:
        return {"policy": self.policy, "complete": self.complete, "detections": [d.to_json() for d in self.detections]}


def example(ev: Mapping[str, Any]) -> dict[str, Any]:
    ref = ev.get("objectRef") if isinstance(ev.get("objectRef"), Mapping) else {}
    resource = ref.get("resource")
    if resource and ref.get("subresource"):
        resource = f"{resource}/{ref['subresource']}"
    return {**finding_summary(dict(ev)), "resource": resource}


def summarize(found: Sequence[FoundEvent], detections: Sequence[Detection], policy: Policy, policy_index: int,
              examples: int = 3) -> PolicyCoverage:
    verdicts = judge(found, detections, policy_index)
    out = []
    for di, det in enumerate(detections):
        mine = [(f, v) for f, v in zip(found, verdicts) if f.detection == di]
        by_request: dict[str, list[tuple[FoundEvent, _Verdict]]] = {}
        for f, v in mine:
            by_request.setdefault(f.audit_id, []).append((f, v))
        cov = DetectionCoverage(det.name, det.title, det.expression(), [p.text for p in det.reads],
                                found_events=len(mine), found_requests=len(by_request),
                                kept_events=sum(v.kept for _, v in mine))
        groups: dict[str, MissedGroup] = {}
        for pairs in by_request.values():
            if any(v.kept for _, v in pairs):
                cov.kept_requests += 1
                continue
            reason = "; ".join(dict.fromkeys(v.reason or "" for _, v in pairs))
            group = groups.setdefault(reason, MissedGroup(reason))
            group.requests += 1
            if len(group.examples) < examples:
                group.examples.append(example(pairs[-1][0].event))
        cov.missed = sorted(groups.values(), key=lambda g: -g.requests)
        out.append(cov)
    return PolicyCoverage(policy.source, out)


def coverage(found: Sequence[FoundEvent], detections: Sequence[Detection], policies: Sequence[Policy],
             examples: int = 3) -> list[PolicyCoverage]:
    """Per policy (in the order whatif.predict saw them), per detection: found, kept, missed."""
    return [summarize(found, detections, p, i, examples) for i, p in enumerate(policies)]
