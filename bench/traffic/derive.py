"""`auditbench traffic from-log`: a traffic profile derived from an audit log.

Metadata level suffices. Every request (one per auditID: a watch's ResponseStarted and
ResponseComplete are one request) is put in a class by verb, resource (group/resource and
subresource, or the path of a non-resource URL), namespace scope (a namespace in the
objectRef, or cluster-wide) and user kind (human, service account, node, system component,
anonymous). A class's weight is its request count, so the profile's shares are the log's;
the log's rate is its requests over the span of their requestReceivedTimestamps; where the
log has request bodies (Request level or above), each class records their mean size.

The profile replays each class as a request of the same shape against the run's own
namespaces and seed objects, performed by an identity of the same user kind. The replay
reproduces what the audit log records (verb, resource, scope, user kind: the policy's
matching inputs, and so its levels and event sizes), not the user's objects: a GET of a
resource the run has no object of answers 404, a create of a kind the harness has no body
for answers 400 — both still audited the same way.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import InputError
from bench.logs import reader
from bench.webhook.stats import TimestampParser

USER_KINDS = ("human", "serviceaccount", "node", "system", "anonymous")
# The identity that replays each user kind (bench.controlplane.identities).
IDENTITY = {"human": "alice", "serviceaccount": "controller", "node": "node", "system": "controller",
            "anonymous": "anonymous"}
SCOPES = ("namespace", "cluster", "-")  # "-": a non-resource URL
REPLAY_NAME = re.compile(r"^[a-z]+ \S+ (namespace|cluster|-) (human|serviceaccount|node|system|anonymous)$")


def user_kind(username: str) -> str:
    if username in ("system:anonymous", ""):
        return "anonymous"
    if username.startswith("system:serviceaccount:"):
        return "serviceaccount"
    if username.startswith("system:node:"):
        return "node"
    if username.startswith("system:"):
        return "system"
    return "human"


@dataclass(frozen=True)
class Shape:
    """What the audit log records of a request, and so what a replay must reproduce."""

    verb: str
    group: str  # "" = core
    version: str
    resource: str  # "" for a non-resource URL
    subresource: str
    scope: str  # namespace | cluster | -
    kind: str  # user kind
    path: str = ""  # non-resource URLs: the path

    @property
    def resource_key(self) -> str:
        if not self.resource:
            return self.path
        key = self.resource + (f".{self.group}" if self.group else "")
        return key + (f"/{self.subresource}" if self.subresource else "")

    @property
    def name(self) -> str:
        return f"{self.verb} {self.resource_key} {self.scope} {self.kind}"


def shape_of(event: dict[str, Any]) -> Shape:
    ref = event.get("objectRef") or {}
    username = (event.get("user") or {}).get("username", "")
    verb = event.get("verb", "") or "get"
    if not ref.get("resource"):
        path = (event.get("requestURI") or "/").split("?", 1)[0]
        return Shape(verb, "", "", "", "", "-", user_kind(username), path)
    scope = "namespace" if ref.get("namespace") else "cluster"
    return Shape(verb, ref.get("apiGroup", ""), ref.get("apiVersion", "") or "v1", ref["resource"],
                 ref.get("subresource", ""), scope, user_kind(username))


@dataclass
class Tally:
    requests: Counter[str]
    shapes: dict[str, Shape]
    body_bytes: dict[str, list[int]]
    first: float | None
    last: float | None
    events: int
    skipped_agent: int

    @property
    def total(self) -> int:
        return sum(self.requests.values())

    @property
    def span_s(self) -> float:
        return (self.last - self.first) if self.first is not None and self.last is not None else 0.0

    def shares(self) -> dict[str, float]:
        total = self.total
        return {k: n / total for k, n in sorted(self.requests.items())} if total else {}


def _body_size(obj: Any) -> int:
    from bench.logs.reader import compact

    return len(compact(obj).encode())


class NotAnEvent(ValueError):
    """An input record that is not an audit.k8s.io Event (its position, 1-based)."""


def tally(events: Iterable[dict[str, Any]], user_agent: str | None = None) -> Tally:
    """Requests per class (one per auditID), their span and body sizes (pure).
    NotAnEvent for a record without the fields every audit event has."""
    parse = TimestampParser()
    seen: set[str] = set()
    requests: Counter[str] = Counter()
    shapes: dict[str, Shape] = {}
    bodies: dict[str, list[int]] = defaultdict(list)
    first = last = None
    n_events = skipped = 0
    for ev in events:
        n_events += 1
        if not isinstance(ev, dict) or not ev.get("verb") or not ev.get("stage"):
            raise NotAnEvent(n_events)
        if user_agent is not None and not (ev.get("userAgent") or "").startswith(user_agent):
            skipped += 1
            continue
        audit_id = ev.get("auditID") or f"#{n_events}"
        if audit_id in seen:
            continue
        seen.add(audit_id)
        shape = shape_of(ev)
        requests[shape.name] += 1
        shapes.setdefault(shape.name, shape)
        if ev.get("requestObject") is not None:
            bodies[shape.name].append(_body_size(ev["requestObject"]))
        t = parse(ev.get("requestReceivedTimestamp") or "")
        if t is not None:
            first = t if first is None else min(first, t)
            last = t if last is None else max(last, t)
    return Tally(requests, shapes, dict(bodies), first, last, n_events, skipped)


def profile_doc(t: Tally, name: str, source: str) -> dict[str, Any]:
    """The profiles file (version 1) holding one derived profile."""
    if t.total == 0:
        raise InputError(source, None, "no requests to derive a profile from (is the filter right?)")
    rate = t.total / t.span_s if t.span_s > 0 else None
    classes: dict[str, Any] = {}
    for cls, n in sorted(t.requests.items(), key=lambda kv: (-kv[1], kv[0])):
        s = t.shapes[cls]
        request: dict[str, Any] = {"verb": s.verb, "scope": s.scope}
        if s.resource:
            request.update(group=s.group, version=s.version, resource=s.resource, subresource=s.subresource)
        else:
            request["path"] = s.path
        sizes = t.body_bytes.get(cls)
        if sizes:
            request["body_bytes"] = round(sum(sizes) / len(sizes))
        classes[cls] = {"weight": n, "as": IDENTITY[s.kind], "request": request}
    span = f"{t.span_s:.0f} s" if t.span_s else "an instant"
    profile: dict[str, Any] = {
        "description": f"Derived from {source}: {t.total} requests in {len(classes)} classes over {span}"
                       + (f" ({rate:.1f} requests/s)" if rate else ""),
        "classes": classes,
    }
    if rate:
        profile["rate_rps"] = round(rate, 3)
    return {"version": 1, "profiles": {name: profile}}


def derive(paths: list[Path], name: str, user_agent: str | None = None) -> tuple[dict[str, Any], Tally]:
    sources = reader.expand(paths)
    if not sources:
        raise InputError(str(paths[0]) if paths else None, None, "no audit log files found")
    try:
        t = tally((ev for ev, _n in reader.iter_events(sources)), user_agent)
    except NotAnEvent as exc:
        raise InputError(", ".join(str(s.path) for s in sources), f"event {exc.args[0]}",
                         "not an audit event (no verb or stage)") from None
    return profile_doc(t, name, ", ".join(str(p) for p in paths)), t
