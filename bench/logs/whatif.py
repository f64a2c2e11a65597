"""What would a policy write? Predicted from one capture, without a cluster.

The capture must be taken under a policy that logs every request at RequestResponse
and omits no stage, so each request's events are all there with both bodies. For a
candidate policy, each captured event is kept or dropped and re-levelled exactly as
the apiserver (k8s.io/apiserver v0.37.2) would have written it:

- The policy is evaluated once per request, on the attributes the audit filter saw
  (rebuilt from the event by RequestAttributes.from_audit_event); level None writes
  nothing (filters/audit.go evaluatePolicyAndCreateAuditEvent).
- Each stage event is written unless its stage is in the decision's omitStages
  (audit/context.go ProcessEventStage). Which stages exist is the capture's business:
  RequestReceived always, ResponseStarted for long-running requests, ResponseComplete
  or Panic at the end.
- The level only decides which bodies the event carries (audit/request.go,
  audit/context.go): requestObject at Request and above (LogRequestObject,
  LogRequestPatch), responseObject at RequestResponse only (LogResponseObject).
  Everything else is level-independent at Metadata and above: objectRef is completed
  from the request body even at Metadata, responseStatus is set at every level
  (LogResponseObject copies the Status before looking at the level; the filter sets
  the code), impersonatedUser is logged from Metadata up. The RequestReceived event
  is emitted before the body is decoded, so it never carries objects at any level.
- Admission annotations carry a level of their own (admission/attributes.go
  getAnnotations): the mutating-webhook patch annotations
  (``patch.webhook.admission.k8s.io/…``, added at Request) are dropped below Request.
- omitManagedFields removes metadata.managedFields from the logged request object
  (not from a patch, which is logged as sent) and from the response object, from
  each item of a list and each row object of a Table (audit/request.go
  copyWithoutManagedFields).
- Bytes are those of the re-levelled event serialized as the log backend does
  (gojson.go_dumps) plus the newline.

Limits: a capture with omitManagedFields on, or below RequestResponse, cannot show
what it never recorded; those events are counted under ``capture_problems``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.logs import gojson
from bench.logs.attribution import DecisionCache, rule_label
from bench.policy.checker import Decision
from bench.policy.model import LEVEL_RANK, Policy

PATCH_ANNOTATION_PREFIX = "patch.webhook.admission.k8s.io/"


# --- re-levelling one event -------------------------------------------------------------


def _without_managed_fields(obj: Any) -> Any:
    """A copy of a logged object without metadata.managedFields (object, list items, Table rows)."""
    if not isinstance(obj, dict):
        return obj
    out = obj
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        out = dict(obj)
        out["metadata"] = {k: v for k, v in meta.items() if k != "managedFields"}
    items = obj.get("items")
    if isinstance(items, list):
        out = dict(out) if out is obj else out
        out["items"] = [_without_managed_fields(item) for item in items]
    rows = obj.get("rows")
    if obj.get("kind") == "Table" and isinstance(rows, list):
        out = dict(out) if out is obj else out
        out["rows"] = [
            {**row, "object": _without_managed_fields(row["object"])} if isinstance(row, dict) and "object" in row else row
            for row in rows
        ]
    return out


def relevel(event: Mapping[str, Any], level: str, omit_managed_fields: bool) -> dict[str, Any]:
    """The event as the apiserver would log it at ``level`` (not None); fields keep their order."""
    rank = LEVEL_RANK[level]
    out = dict(event)
    out["level"] = level
    if rank < LEVEL_RANK["Request"]:
        out.pop("requestObject", None)
        annotations = out.get("annotations")
        if isinstance(annotations, dict) and any(k.startswith(PATCH_ANNOTATION_PREFIX) for k in annotations):
            kept = {k: v for k, v in annotations.items() if not k.startswith(PATCH_ANNOTATION_PREFIX)}
            if kept:
                out["annotations"] = kept
            else:
                del out["annotations"]  # an empty map is omitted (omitempty)
    if rank < LEVEL_RANK["RequestResponse"]:
        out.pop("responseObject", None)
    if omit_managed_fields:
        if "requestObject" in out and event.get("verb") != "patch":
            out["requestObject"] = _without_managed_fields(out["requestObject"])
        if "responseObject" in out:
            out["responseObject"] = _without_managed_fields(out["responseObject"])
    return out


class _EventSizes:
    """Serialized sizes of one captured event per (level, omitManagedFields), computed once each."""

    __slots__ = ("event", "_sizes")

    def __init__(self, event: Mapping[str, Any], captured_bytes: int) -> None:
        self.event = event
        self._sizes: dict[tuple[str, bool], int] = {}
        # Kept as captured, the event is the captured line: no need to serialize the
        # biggest form (both bodies) again. go_dumps reproduces apiserver lines exactly.
        if event.get("level") == "RequestResponse":
            self._sizes[("RequestResponse", False)] = captured_bytes

    def size(self, level: str, omit_managed_fields: bool) -> int:
        key = (level, omit_managed_fields)
        found = self._sizes.get(key)
        if found is None:
            found = gojson.go_line_bytes(relevel(self.event, level, omit_managed_fields))
            self._sizes[key] = found
        return found


# --- predictions ------------------------------------------------------------------------


@dataclass
class Counter:
    events: int = 0
    bytes: int = 0

    def add(self, nbytes: int) -> None:
        self.events += 1
        self.bytes += nbytes

    def to_json(self) -> dict[str, int]:
        return {"events": self.events, "bytes": self.bytes}


@dataclass
class Prediction:
    policy: str
    events: int = 0
    bytes: int = 0
    by_level: dict[str, Counter] = field(default_factory=dict)
    by_stage: dict[str, Counter] = field(default_factory=dict)
    by_rule: dict[int | None, Counter] = field(default_factory=dict)
    rule_meta: dict[int | None, tuple[str, str]] = field(default_factory=dict)  # level, description
    requests_logged: int = 0

    def add(self, decision: Decision, stage: str, nbytes: int) -> None:
        self.events += 1
        self.bytes += nbytes
        self.by_level.setdefault(decision.level, Counter()).add(nbytes)
        self.by_stage.setdefault(stage, Counter()).add(nbytes)
        self.by_rule.setdefault(decision.rule_index, Counter()).add(nbytes)

    def rules_json(self) -> list[dict[str, Any]]:
        order = sorted(self.rule_meta, key=lambda i: (i is None, i if i is not None else 0))
        return [
            {"rule": i, "level": self.rule_meta[i][0], "description": self.rule_meta[i][1],
             **self.by_rule.get(i, Counter()).to_json()}
            for i in order
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "events": self.events,
            "bytes": self.bytes,
            "requests_logged": self.requests_logged,
            "by_level": {k: v.to_json() for k, v in sorted(self.by_level.items(), key=lambda kv: LEVEL_RANK[kv[0]])},
            "by_stage": {k: v.to_json() for k, v in self.by_stage.items()},
            "by_rule": self.rules_json(),
        }


DAY_S = 86400.0


@dataclass
class WhatIf:
    capture_events: int = 0
    capture_bytes: int = 0
    capture_requests: int = 0
    capture_problems: dict[str, int] = field(default_factory=dict)
    predictions: list[Prediction] = field(default_factory=list)

    def bytes_per_day(self, pred: Prediction, rate_rps: float) -> float | None:
        """Bytes a day at ``rate_rps`` API requests/s with the capture's mix of requests."""
        if not self.capture_requests:
            return None
        return pred.bytes / self.capture_requests * rate_rps * DAY_S

    def to_json(self, rate_rps: float | None = None) -> dict[str, Any]:
        preds = []
        for p in self.predictions:
            doc = p.to_json()
            doc["bytes_per_request"] = p.bytes / self.capture_requests if self.capture_requests else None
            if rate_rps is not None:
                doc["rate_rps"] = rate_rps
                doc["bytes_per_day"] = self.bytes_per_day(p, rate_rps)
            preds.append(doc)
        return {
            "capture": {"events": self.capture_events, "bytes": self.capture_bytes, "requests": self.capture_requests,
                        "problems": self.capture_problems},
            "predictions": preds,
        }


def _capture_problem(event: Mapping[str, Any]) -> str | None:
    if event.get("level") != "RequestResponse":
        return f"captured at {event.get('level')}, not RequestResponse: bodies missing"
    return None


def predict(events: Iterable[tuple[Mapping[str, Any], int]], policies: Sequence[Policy],
            observe: Callable[[Mapping[str, Any], Sequence[Decision]], None] | None = None) -> WhatIf:
    """Events and bytes each policy would write for the captured traffic.

    ``events`` yields (event, captured bytes), e.g. reader.iter_events over a capture
    taken with a RequestResponse-for-everything policy that omits no stage. ``observe``
    sees every captured event with each policy's decision (coverage uses it, so one pass
    over the capture gives both).
    """
    result = WhatIf()
    preds = [Prediction(p.source) for p in policies]
    for pred, policy in zip(preds, policies):
        pred.rule_meta = {i: (r.level, rule_label(policy, i)) for i, r in enumerate(policy.rules)}
        pred.rule_meta[None] = ("None", rule_label(policy, None))
    cache = DecisionCache()
    seen_requests: list[set[str]] = [set() for _ in policies]
    capture_requests: set[str] = set()
    received: set[str] = set()
    for event, nbytes in events:
        result.capture_events += 1
        result.capture_bytes += nbytes
        audit_id = str(event.get("auditID"))
        capture_requests.add(audit_id)
        stage = str(event.get("stage"))
        user = event.get("user")
        if stage == "RequestReceived" or not (isinstance(user, Mapping) and user.get("username")):
            received.add(audit_id)  # a request whose authentication failed only has ResponseStarted
        problem = _capture_problem(event)
        if problem:
            result.capture_problems[problem] = result.capture_problems.get(problem, 0) + 1
        sizes = _EventSizes(event, nbytes)
        decisions = [cache.decide(policy, event) for policy in policies]
        if observe is not None:
            observe(event, decisions)
        for i, (pred, decision) in enumerate(zip(preds, decisions)):
            if decision.level == "None" or stage in decision.omit_stages:
                pred.by_rule.setdefault(decision.rule_index, Counter())
                continue
            pred.add(decision, stage, sizes.size(decision.level, decision.omit_managed_fields))
            seen_requests[i].add(audit_id)
    missing_rr = len(capture_requests - received)
    if missing_rr:
        result.capture_problems["requests without a RequestReceived event (stage omitted in the capture?)"] = missing_rr
    result.capture_requests = len(capture_requests)
    for pred, seen in zip(preds, seen_requests):
        pred.requests_logged = len(seen)
    result.predictions = preds
    return result
