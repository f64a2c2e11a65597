"""A capture reduced to what a policy decision changes, so many candidate policies replay fast.

One pass over a RequestResponse capture keeps, per (request attributes, stage), the number
of events and their total size at every level and omitManagedFields setting (each event
re-levelled exactly as whatif.relevel does), plus the events each detection selects. A
policy's cost is then one checker decision per distinct request attributes and a sum per
group; its coverage is coverage.judge on the selected events. Same answers as
whatif.predict and coverage over the file, at a fraction of the time per policy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.detections.model import Detection
from bench.logs import coverage as cov
from bench.logs import gojson
from bench.logs.attribution import DecisionCache
from bench.logs.whatif import PATCH_ANNOTATION_PREFIX, relevel
from bench.policy.checker import Decision, compile_policy
from bench.policy.model import LEVELS, Policy
from bench.policy.request import RequestAttributes

LOGGED_LEVELS = LEVELS[1:]  # Metadata, Request, RequestResponse


def _has_bodies(event: Mapping[str, Any]) -> bool:
    ann = event.get("annotations")
    patch = isinstance(ann, Mapping) and any(k.startswith(PATCH_ANNOTATION_PREFIX) for k in ann)
    return "requestObject" in event or "responseObject" in event or patch


def event_sizes(event: Mapping[str, Any], nbytes: int) -> dict[tuple[str, bool], int]:
    """Log-line bytes of the event at each level and omitManagedFields setting."""
    if not _has_bodies(event) and event.get("level") in LEVELS:
        # Only the level string differs (ASCII, never escaped), so no need to serialize.
        base = nbytes - len(str(event["level"]))
        return {(lv, omf): base + len(lv) for lv in LOGGED_LEVELS for omf in (False, True)}
    out: dict[tuple[str, bool], int] = {}
    for lv in LOGGED_LEVELS:
        plain = relevel(event, lv, False)
        out[(lv, False)] = gojson.go_line_bytes(plain)
        trimmed = relevel(event, lv, True)
        out[(lv, True)] = out[(lv, False)] if trimmed == plain else gojson.go_line_bytes(trimmed)
    return out


@dataclass
class Group:
    """Events sharing request attributes and stage: their count and bytes per (level, omf)."""

    attrs: int
    stage: str
    events: int = 0
    bytes: dict[tuple[str, bool], int] = field(default_factory=lambda: {(lv, o): 0 for lv in LOGGED_LEVELS for o in (False, True)})
    requests: set[str] = field(default_factory=set)


@dataclass
class Records:
    attrs: list[RequestAttributes]
    groups: list[Group]
    found: list[tuple[int, int, Mapping[str, Any]]]  # (detection, attrs id, event)
    detections: list[Detection]
    capture_events: int = 0
    capture_bytes: int = 0
    capture_requests: int = 0

    def decisions(self, policy: Policy) -> list[Decision]:
        compiled = compile_policy(policy)
        return [compiled.evaluate(a) for a in self.attrs]

    def cost(self, policy: Policy, decisions: Sequence[Decision] | None = None) -> tuple[int, int]:
        """(events, bytes) the policy writes for the captured traffic."""
        decisions = decisions if decisions is not None else self.decisions(policy)
        events = nbytes = 0
        for g in self.groups:
            d = decisions[g.attrs]
            if d.level == "None" or g.stage in d.omit_stages:
                continue
            events += g.events
            nbytes += g.bytes[(d.level, d.omit_managed_fields)]
        return events, nbytes

    def coverage(self, policy: Policy, decisions: Sequence[Decision] | None = None,
                 examples: int = 3) -> cov.PolicyCoverage:
        decisions = decisions if decisions is not None else self.decisions(policy)
        found = [cov.FoundEvent(di, ev, (decisions[ai],)) for di, ai, ev in self.found]
        return cov.summarize(found, self.detections, policy, 0, examples)


def build(events: Iterable[tuple[Mapping[str, Any], int]], detections: Sequence[Detection]) -> Records:
    """One pass over (event, captured bytes), e.g. reader.iter_events of a capture."""
    cache = DecisionCache()
    attr_ids: dict[RequestAttributes, int] = {}
    groups: dict[tuple[int, str], Group] = {}
    collector = cov.Collector(detections)
    requests: set[str] = set()
    rec = Records([], [], [], list(detections))
    for event, nbytes in events:
        rec.capture_events += 1
        rec.capture_bytes += nbytes
        attrs = cache.attrs(event)
        ai = attr_ids.setdefault(attrs, len(attr_ids))
        if ai == len(rec.attrs):
            rec.attrs.append(attrs)
        stage = str(event.get("stage"))
        g = groups.get((ai, stage))
        if g is None:
            g = groups[(ai, stage)] = Group(ai, stage)
        g.events += 1
        for key, size in event_sizes(event, nbytes).items():
            g.bytes[key] += size
        audit_id = str(event.get("auditID"))
        g.requests.add(audit_id)
        requests.add(audit_id)
        collector.observe(event, (), tag=ai)  # decisions come later, per candidate policy
    rec.found = [(f.detection, f.tag, f.event) for f in collector.finish()]
    rec.groups = list(groups.values())
    rec.capture_requests = len(requests)
    return rec
