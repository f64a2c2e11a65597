"""Which policy rule wrote which part of a log: events and bytes per rule.

Each logged event is matched against the policy that wrote it (the real checker, with
the request attributes the apiserver evaluated, rebuilt from the event). An event the
policy would not have written at that level or stage means the log and the policy do
not belong together; those are counted, not hidden.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.logs.reader import Source
from bench.policy.checker import Decision, evaluate
from bench.policy.model import Policy, PolicyRule
from bench.policy.request import RequestAttributes

_DESCRIPTION_MAX = 90
# The objectRef fields RequestAttributes.from_audit_event may read (not uid/resourceVersion).
_REF_FIELDS = ("namespace", "apiGroup", "apiVersion", "resource", "subresource", "name")


def _short_list(items: Iterable[str], limit: int = 4) -> str:
    items = list(items)
    shown = ",".join(items[:limit])
    return shown + (f",+{len(items) - limit}" if len(items) > limit else "")


def describe_rule(rule: PolicyRule) -> str:
    """A one-line summary of what a rule matches, e.g. ``core/secrets,configmaps``."""
    parts: list[str] = []
    if rule.users:
        parts.append("users " + _short_list(rule.users))
    if rule.user_groups:
        parts.append("groups " + _short_list(rule.user_groups))
    if rule.verbs:
        parts.append("verbs " + _short_list(rule.verbs, 6))
    if rule.resources:
        grs = []
        for gr in rule.resources:
            group = gr.group or "core"
            grs.append(f"{group}/{_short_list(gr.resources, 3) if gr.resources else '*'}"
                       + (f"[{_short_list(gr.resource_names, 2)}]" if gr.resource_names else ""))
        parts.append(" ".join(grs))
    if rule.namespaces:
        parts.append("ns " + _short_list(rule.namespaces))
    if rule.non_resource_urls:
        parts.append("urls " + _short_list(rule.non_resource_urls))
    if rule.omit_stages:
        parts.append("omit " + _short_list(rule.omit_stages))
    text = "; ".join(parts) if parts else "everything else"
    return text if len(text) <= _DESCRIPTION_MAX else text[: _DESCRIPTION_MAX - 1] + "…"


def rule_label(policy: Policy, rule_index: int | None) -> str:
    if rule_index is None:
        return "no rule matched (None)"
    return describe_rule(policy.rules[rule_index])


@dataclass
class RuleCost:
    rule_index: int | None
    level: str
    description: str
    events: int = 0
    bytes: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule_index, "level": self.level, "description": self.description,
                "events": self.events, "bytes": self.bytes}


@dataclass
class Attribution:
    policy: str
    events: int = 0
    bytes: int = 0
    rules: list[RuleCost] = field(default_factory=list)
    # Events the policy would not have written as they are: (rule, logged level, expected level, stage) -> count.
    inconsistent: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"policy": self.policy, "events": self.events, "bytes": self.bytes,
                "rules": [r.to_json() for r in self.rules], "inconsistent": self.inconsistent}


class DecisionCache:
    """Request attributes and decisions, cached by the event fields they depend on.

    Most events of a log repeat a few (user, verb, URI) combinations, and rebuilding
    the attributes (URI parsing) costs more than the policy check itself.
    """

    def __init__(self) -> None:
        self._attrs: dict[tuple[Any, ...], RequestAttributes] = {}

    def attrs(self, event: Mapping[str, Any]) -> RequestAttributes:
        user = event.get("user") if isinstance(event.get("user"), Mapping) else {}
        ref = event.get("objectRef") if isinstance(event.get("objectRef"), Mapping) else None
        key = (
            user.get("username"), tuple(user.get("groups") or ()), event.get("verb"), event.get("requestURI"),
            None if not ref else tuple(ref.get(k) for k in _REF_FIELDS),
        )
        found = self._attrs.get(key)
        if found is None:
            # Only well-formed parts go to the attribute builder: a malformed event (an
            # objectRef that is not an object) is judged as if that part were absent.
            clean = {"user": user, "verb": event.get("verb"), "requestURI": event.get("requestURI"), "objectRef": ref}
            found = RequestAttributes.from_audit_event(clean)
            self._attrs[key] = found
        return found

    def decide(self, policy: Policy, event: Mapping[str, Any]) -> Decision:
        return evaluate(policy, self.attrs(event))


def _empty(policy: Policy) -> tuple[Attribution, dict[int, RuleCost], RuleCost]:
    rows = {i: RuleCost(i, r.level, describe_rule(r)) for i, r in enumerate(policy.rules)}
    return Attribution(policy.source), rows, RuleCost(None, "None", rule_label(policy, None))


def _add(out: Attribution, rows: dict[int, RuleCost], unmatched: RuleCost, decision: Decision,
         event: Mapping[str, Any], events: int, nbytes: int) -> None:
    row = unmatched if decision.rule_index is None else rows[decision.rule_index]
    row.events += events
    row.bytes += nbytes
    out.events += events
    out.bytes += nbytes
    stage = event.get("stage")
    if decision.level != event.get("level") or stage in decision.omit_stages:
        key = f"rule {decision.rule_index}: logged {event.get('level')} {stage}, policy says {decision.level}" + (
            " with that stage omitted" if stage in decision.omit_stages else "")
        out.inconsistent[key] = out.inconsistent.get(key, 0) + events


def attribute(events: Iterable[tuple[Mapping[str, Any], int]], policy: Policy) -> Attribution:
    """Events and bytes of a log per rule of the policy that wrote it.

    ``events`` yields (event, serialized bytes incl. newline), e.g. reader.iter_events.
    Rows come in policy order, every rule listed (a rule that wrote nothing shows 0),
    plus a "no rule matched" row when some event matched none.
    """
    out, rows, unmatched = _empty(policy)
    cache = DecisionCache()
    for ev, nbytes in events:
        _add(out, rows, unmatched, cache.decide(policy, ev), ev, 1, nbytes)
    out.rules = list(rows.values()) + ([unmatched] if unmatched.events else [])
    return out


# The event fields a decision and the consistency check depend on, all before
# responseStatus in Go's field order (so DuckDB's fast prefix parse applies).
_GROUP_PATHS = ["$.level", "$.stage", "$.verb", "$.requestURI", "$.user.username", "$.user.groups",
                *(f"$.objectRef.{f}" for f in _REF_FIELDS)]


def _group_sql(relation: str, fast: bool) -> str:
    from bench.logs.scan import extract_sql

    cols = ", ".join(f"v[{i + 1}]" for i in range(len(_GROUP_PATHS)))
    return f"SELECT {cols}, count(*), sum(nbytes) FROM ({extract_sql(relation, _GROUP_PATHS, fast)}) GROUP BY ALL"


def attribute_sources(sources: Sequence[Source], policy: Policy, con: Any = None) -> Attribution:
    """``attribute`` over audit files at DuckDB speed: events with the same decision
    inputs are counted together, and the policy is checked once per distinct input."""
    from bench.logs import query

    con = con or query.connect()
    groups = query.run(con, list(sources), lambda rel: _group_sql(rel, True), safe_build=lambda rel: _group_sql(rel, False))
    out, rows, unmatched = _empty(policy)
    cache = DecisionCache()
    for row in groups:
        level, stage, verb, uri, username, groups_json, *ref_values, count, nbytes = row
        ref = {k: v for k, v in zip(_REF_FIELDS, ref_values) if v is not None}
        user: dict[str, Any] = {"username": username} if username is not None else {}
        if groups_json is not None:
            parsed = json.loads(groups_json)
            user["groups"] = parsed if isinstance(parsed, list) else []
        event = {"level": level, "stage": stage, "verb": verb, "requestURI": uri, "user": user, "objectRef": ref or None}
        _add(out, rows, unmatched, cache.decide(policy, event), event, int(count), int(nbytes))
    out.rules = list(rows.values()) + ([unmatched] if unmatched.events else [])
    return out
