"""Cheaper policies that keep every detection: edits to a base policy, each with its saving.

First, wherever the base logs secrets or configmaps with their bodies (lint AB001), a rule
that logs them at Metadata, whatever it saves. Then three kinds of edit, tried greedily (the
biggest saving that keeps every detection first, then again on the edited policy, until no
edit saves at least ``min_saving`` of the base):

- omit a stage at policy level (RequestReceived, ResponseStarted): a request keeps its
  other events, which carry the same objectRef, user and verb;
- None for reads no detection can ever select: a rule at the top that stops logging
  get/list/watch of one resource, or one non-resource URL, when every detection is
  decided false on what that rule fixes (verb, group, resource, subresource) whatever the
  other fields are. Writes are never dropped, and neither are reads of credentials and
  permissions (secrets, configmaps, service accounts, RBAC, authentication and
  authorization APIs, certificates): the audit trail keeps them whatever the detections say;
- a lower level where no detection needs the body: a whole rule, or, inserted just before
  a rule, a copy of it narrowed to one resource and verb (same users, groups and
  namespaces, so it matches a subset of what the rule matches and changes nothing else).

Every candidate is judged by replaying the capture through the policy checker
(records.Records): its bytes, and whether every request each detection found in the
capture is still found. The result is proven again on the capture file by
whatif.predict with coverage (see prove).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from bench.detections.conditions import UNKNOWN
from bench.detections.model import Detection
from bench.logs import coverage as cov
from bench.logs.records import Records
from bench.policy.model import LEVEL_RANK, LEVELS, GroupResources, Policy, PolicyRule

READ_VERBS = ("get", "list", "watch")
OMITTABLE_STAGES = ("RequestReceived", "ResponseStarted")
# Reads the suggester never turns off: who looked at credentials or permissions.
SENSITIVE_GROUPS = frozenset({"rbac.authorization.k8s.io", "authentication.k8s.io", "authorization.k8s.io",
                              "certificates.k8s.io"})
SENSITIVE_CORE = frozenset({"secrets", "configmaps", "serviceaccounts"})


@dataclass(frozen=True)
class Edit:
    kind: str  # lint | omit-stage | none | lower-rule | lower-class
    summary: str
    omit_stage: str | None = None
    top_rule: PolicyRule | None = None
    before: tuple[int, PolicyRule] | None = None  # (base rule index, rule inserted before it)
    lower: tuple[int, str] | None = None  # (base rule index, new level)

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.kind, self.omit_stage, self.top_rule, self.before, self.lower)

    def rule(self) -> PolicyRule | None:
        return self.top_rule or (self.before[1] if self.before else None)


@dataclass
class Draft:
    """The base policy plus edits; rules keep a note of where they came from."""

    base: Policy
    edits: list[Edit] = field(default_factory=list)

    def with_edit(self, edit: Edit) -> Draft:
        return Draft(self.base, [*self.edits, edit])

    def build(self) -> tuple[Policy, list[int | None]]:
        """The policy, and for each of its rules the base rule index it is or narrows (None: added at the top)."""
        omit = list(self.base.omit_stages) + [e.omit_stage for e in self.edits if e.omit_stage
                                              and e.omit_stage not in self.base.omit_stages]
        rules = _top_rules([e.top_rule for e in self.edits if e.top_rule is not None])
        origin: list[int | None] = [None] * len(rules)
        levels = {e.lower[0]: e.lower[1] for e in self.edits if e.lower}
        for i, rule in enumerate(self.base.rules):
            # Narrowed rules before one base rule match disjoint classes: any order, so a tidy one.
            inserted = sorted((e.before[1] for e in self.edits if e.before and e.before[0] == i), key=_sort_key)
            for narrow in _merge_verbs(inserted):
                rules.append(narrow)
                origin.append(i)
            rules.append(replace(rule, level=levels.get(i, rule.level)))
            origin.append(i)
        policy = Policy(tuple(rules), tuple(dict.fromkeys(omit)), self.base.omit_managed_fields, self.base.source)
        return policy, origin


def _sort_key(rule: PolicyRule) -> tuple[Any, ...]:
    return (LEVEL_RANK[rule.level], [(g.group, g.resources) for g in rule.resources], rule.verbs)


def _top_rules(rules: list[PolicyRule]) -> list[PolicyRule]:
    """The added None rules, merged: they all say None and come first, so order is free.
    One rule for the URLs; one per (group, verbs) for resources."""
    urls = sorted({u for r in rules for u in r.non_resource_urls})
    by_group: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for r in rules:
        for gr in r.resources:
            by_group.setdefault((gr.group, r.verbs), []).extend(gr.resources)
    out = [PolicyRule("None", verbs=verbs, resources=(GroupResources(group, tuple(sorted(set(res)))),))
           for (group, verbs), res in sorted(by_group.items())]
    return out + ([PolicyRule("None", non_resource_urls=tuple(urls))] if urls else [])


def _merge_verbs(rules: list[PolicyRule]) -> list[PolicyRule]:
    """Join rules that differ only in verbs (disjoint classes, same outcome)."""
    out: list[PolicyRule] = []
    for rule in rules:
        prev = out[-1] if out else None
        if prev is not None and replace(prev, verbs=()) == replace(rule, verbs=()):
            out[-1] = replace(prev, verbs=tuple(dict.fromkeys(prev.verbs + rule.verbs)))
        else:
            out.append(rule)
    return out


# --- candidates ----------------------------------------------------------------------------


def _class_values(det: Detection, verb: str, group: str, resource: str, sub: str, resource_request: bool) -> tuple:
    known: dict[tuple[str, ...], Any] = {("verb",): verb}
    if resource_request:
        known.update({("objectRef", "resource"): resource, ("objectRef", "subresource"): sub or None,
                      ("objectRef", "apiGroup"): group or None})
    else:
        known.update({("objectRef",): None, **{("objectRef", k): None for k in
                      ("resource", "namespace", "name", "uid", "apiGroup", "apiVersion", "resourceVersion", "subresource")}})
    return tuple(known.get(p.keys, UNKNOWN) for p in det.reads)


def never_selected(detections: Sequence[Detection], verb: str, group: str = "", resource: str = "",
                   sub: str = "", resource_request: bool = True) -> bool:
    """No detection can select any request of this class, whatever its other fields are."""
    return not any(d.evaluate([_class_values(d, verb, group, resource, sub, resource_request)], could=True)[0]
                   for d in detections)


def _sensitive(group: str, resource: str) -> bool:
    return group in SENSITIVE_GROUPS or (group == "" and resource in SENSITIVE_CORE)


def _res(resource: str, sub: str) -> str:
    return f"{resource}/{sub}" if sub else resource


def _none_edits(records: Records, policy: Policy, decisions: Sequence) -> list[Edit]:
    reads: dict[tuple[str, str, str], set[str]] = {}
    paths: dict[str, set[str]] = {}
    for g in records.groups:
        a = records.attrs[g.attrs]
        if decisions[g.attrs].level == "None" or g.stage in decisions[g.attrs].omit_stages:
            continue
        if a.is_resource_request and a.verb in READ_VERBS and not _sensitive(a.api_group, a.resource):
            reads.setdefault((a.api_group, a.resource, a.subresource), set()).add(a.verb)
        elif not a.is_resource_request and a.path:
            paths.setdefault(a.path, set()).add(a.verb)
    out = []
    for (group, resource, sub), verbs in sorted(reads.items()):
        quiet = sorted(v for v in verbs if never_selected(records.detections, v, group, resource, sub))
        if quiet:
            rule = PolicyRule("None", verbs=tuple(quiet), resources=(GroupResources(group, (_res(resource, sub),)),))
            out.append(Edit("none", f"None for {', '.join(quiet)} {(group or 'core')}/{_res(resource, sub)}: "
                                    "no detection can select these reads", top_rule=rule))
    for path, verbs in sorted(paths.items()):
        if all(never_selected(records.detections, v, resource_request=False) for v in verbs):
            rule = PolicyRule("None", non_resource_urls=(path,))
            out.append(Edit("none", f"None for {path}: no detection can select it", top_rule=rule))
    return out


def _narrowed(rule: PolicyRule, group: str, resource: str, sub: str, verb: str, level: str) -> PolicyRule | None:
    """The rule restricted to one resource and verb (a subset of its matches), at ``level``."""
    form = _res(resource, sub)
    names: tuple[str, ...] = ()
    for gr in rule.resources:
        if gr.group in ("*", group):
            names = gr.resource_names
            break
    else:
        if rule.resources:
            return None
    return PolicyRule(level, users=rule.users, user_groups=rule.user_groups, verbs=(verb,),
                      resources=(GroupResources(group, (form,), names),), namespaces=rule.namespaces,
                      omit_stages=rule.omit_stages, omit_managed_fields=rule.omit_managed_fields)


def _lower_edits(records: Records, base: Policy, policy: Policy, origin: Sequence[int | None],
                 decisions: Sequence, levels: dict[int, str]) -> list[Edit]:
    """Lower a base rule (at its current level) as a whole, or narrowed to one resource and verb."""
    out = []
    classes: dict[int, set[tuple[str, str, str, str]]] = {}
    for g in records.groups:
        d = decisions[g.attrs]
        a = records.attrs[g.attrs]
        if d.rule_index is None or not a.is_resource_request or d.level == "None":
            continue
        bi = origin[d.rule_index]
        if bi is not None and policy.rules[d.rule_index].level == levels.get(bi, base.rules[bi].level):
            classes.setdefault(bi, set()).add((a.api_group, a.resource, a.subresource, a.verb))
    for bi, found in sorted(classes.items()):
        rule = replace(base.rules[bi], level=levels.get(bi, base.rules[bi].level))
        if rule.non_resource_urls:
            continue
        for level in LEVELS[1:LEVEL_RANK[rule.level]]:
            out.append(Edit("lower-rule", f"rules[{bi}] ({rule.level}) to {level}", lower=(bi, level)))
            for group, resource, sub, verb in sorted(found):
                narrow = _narrowed(rule, group, resource, sub, verb, level)
                if narrow is not None:
                    out.append(Edit("lower-class", f"{verb} {(group or 'core')}/{_res(resource, sub)} under "
                                                   f"rules[{bi}] ({rule.level}) to {level}", before=(bi, narrow)))
    return out


def _covers(gr: GroupResources, resource: str) -> bool:
    """Does this entry match every request for ``resource`` (no subresource) of the core group?"""
    if gr.group not in ("", "*") or gr.resource_names:
        return False
    return not gr.resources or bool({"*", resource, f"{resource}/*"} & set(gr.resources))


def secret_edits(base: Policy) -> list[Edit]:
    """Metadata for secrets and configmaps wherever the base logs them with bodies (lint AB001):
    a copy of each such rule narrowed to them, just before it. Tried before the savings."""
    out = []
    for i, rule in enumerate(base.rules):
        if LEVEL_RANK[rule.level] < LEVEL_RANK["Request"] or rule.non_resource_urls:
            continue
        covered = [r for r in ("secrets", "configmaps")
                   if not rule.resources or any(_covers(gr, r) for gr in rule.resources)]
        only_these = rule.resources and all(gr.group == "" and gr.resources and set(gr.resources) <= set(covered)
                                            for gr in rule.resources)
        why = "hold secret data in their bodies (lint AB001)"
        if only_these:  # the rule is about them alone: lower it, a narrowed copy would shadow it
            out.append(Edit("lint", f"rules[{i}] ({rule.level}) to Metadata: {' and '.join(covered)} {why}",
                            lower=(i, "Metadata")))
        elif covered:
            narrow = PolicyRule("Metadata", users=rule.users, user_groups=rule.user_groups, verbs=rule.verbs,
                                resources=(GroupResources("", tuple(covered)),), namespaces=rule.namespaces,
                                omit_stages=rule.omit_stages, omit_managed_fields=rule.omit_managed_fields)
            out.append(Edit("lint", f"{' and '.join(covered)} under rules[{i}] ({rule.level}) to Metadata: they {why}",
                            before=(i, narrow)))
    return out


def candidates(records: Records, draft: Draft) -> list[Edit]:
    policy, origin = draft.build()
    decisions = records.decisions(policy)
    have = {e.key for e in draft.edits}
    levels = {e.lower[0]: e.lower[1] for e in draft.edits if e.lower}
    out = [Edit("omit-stage", f"omitStages {s} for the whole policy", omit_stage=s)
           for s in OMITTABLE_STAGES if s not in policy.omit_stages]
    out += _none_edits(records, policy, decisions)
    out += _lower_edits(records, draft.base, policy, origin, decisions, levels)
    return [e for e in out if e.key not in have]


# --- the search --------------------------------------------------------------------------


@dataclass
class Step:
    edit: Edit
    saving_bytes: int
    saving_events: int


@dataclass
class Rejected:
    edit: Edit
    saving_bytes: int
    lost: list[dict[str, Any]]  # per detection that would miss requests: name, requests, reason


@dataclass
class Suggestion:
    base: Policy
    policy: Policy
    steps: list[Step]
    rejected: list[Rejected]
    base_cost: tuple[int, int]
    cost: tuple[int, int]
    coverage: cov.PolicyCoverage
    base_coverage: cov.PolicyCoverage
    capture_requests: int


def _lost(c: cov.PolicyCoverage) -> list[dict[str, Any]]:
    return [{"detection": d.name, "requests": d.found_requests - d.kept_requests,
             "reason": d.missed[0].reason if d.missed else ""} for d in c.detections if not d.complete]


def _replay(records: Records, draft: Draft, edit: Edit, with_coverage: bool = True
            ) -> tuple[tuple[int, int], cov.PolicyCoverage | None]:
    """Cost (events, bytes) of the draft with the edit, and its coverage when asked."""
    policy, _ = draft.with_edit(edit).build()
    decisions = records.decisions(policy)
    cost = records.cost(policy, decisions)
    return cost, records.coverage(policy, decisions) if with_coverage else None


Cost = tuple[int, int]  # events, bytes


def _secret_fixes(records: Records, draft: Draft, current: Cost, baseline: cov.PolicyCoverage, steps: list[Step],
                  rejected: dict[tuple[Any, ...], Rejected]) -> tuple[Draft, Cost]:
    """Apply secret_edits that keep every detection, whatever they save."""
    for edit in secret_edits(draft.base):
        cost, c = _replay(records, draft, edit)
        assert c is not None
        if _keeps(c, baseline):
            steps.append(Step(edit, current[1] - cost[1], current[0] - cost[0]))
            draft, current = draft.with_edit(edit), cost
        else:
            rejected[edit.key] = Rejected(edit, current[1] - cost[1], _lost(c))
    return draft, current


def _best(records: Records, draft: Draft, current: Cost, floor: int, baseline: cov.PolicyCoverage,
          rejected: dict[tuple[Any, ...], Rejected]) -> tuple[int, Edit, Cost] | None:
    """The candidate with the biggest saving (at least ``floor``) that keeps every detection."""
    best: tuple[int, Edit, Cost] | None = None
    for edit in candidates(records, draft):
        cost, _ = _replay(records, draft, edit, with_coverage=False)
        saving = current[1] - cost[1]
        if saving < floor or (best is not None and saving <= best[0]):
            continue
        _, c = _replay(records, draft, edit)
        assert c is not None
        if _keeps(c, baseline):
            best = (saving, edit, cost)
        elif edit.key not in rejected or rejected[edit.key].saving_bytes < saving:
            rejected[edit.key] = Rejected(edit, saving, _lost(c))
    return best


def search(records: Records, base: Policy, min_saving: float = 0.01, max_steps: int = 50) -> Suggestion:
    """Secret fixes, then greedily the safe edit with the biggest saving until none saves
    ``min_saving`` of the base bytes."""
    base_cost = records.cost(base)
    baseline = records.coverage(base)
    steps: list[Step] = []
    rejected: dict[tuple[Any, ...], Rejected] = {}
    draft, current = _secret_fixes(records, Draft(base), base_cost, baseline, steps, rejected)
    floor = max(1, int(min_saving * base_cost[1]))
    for _ in range(max_steps):
        best = _best(records, draft, current, floor, baseline, rejected)
        if best is None:
            break
        saving, edit, cost = best
        steps.append(Step(edit, saving, current[0] - cost[0]))
        draft, current = draft.with_edit(edit), cost
        rejected.pop(edit.key, None)
    policy, _ = draft.build()
    policy = replace(policy, source=f"suggested from {base.source}")
    return Suggestion(base, policy, steps, sorted(rejected.values(), key=lambda r: -r.saving_bytes),
                      base_cost, current, records.coverage(policy), baseline, records.capture_requests)


def _keeps(c: cov.PolicyCoverage, baseline: cov.PolicyCoverage) -> bool:
    """Every request each detection finds under the base policy is still found. Edits only
    take information away, so the kept set can only shrink: equal counts are equal sets."""
    return all(d.kept_requests >= b.kept_requests for d, b in zip(c.detections, baseline.detections))


# --- proof and output ---------------------------------------------------------------------


@dataclass
class Proof:
    """The suggestion replayed on the capture file by whatif.predict with coverage."""

    whatif: Any  # whatif.WhatIf for [base, suggested]
    coverage: list[cov.PolicyCoverage]
    keeps_every_detection: bool
    matches_search: bool  # the search's own figures agree with the replay


def prove(events: Any, suggestion: Suggestion, detections: Sequence[Detection]) -> Proof:
    """Replay (event, bytes) of the capture through the checker for base and suggested policy."""
    from bench.logs import whatif

    collector = cov.Collector(detections)
    result = whatif.predict(events, [suggestion.base, suggestion.policy], observe=collector.observe)
    found = collector.finish()
    covs = cov.coverage(found, detections, [suggestion.base, suggestion.policy])
    base_pred, new_pred = result.predictions
    agree = ((base_pred.events, base_pred.bytes) == suggestion.base_cost
             and (new_pred.events, new_pred.bytes) == suggestion.cost)
    return Proof(result, covs, _keeps(covs[1], covs[0]), agree)


def policy_yaml(suggestion: Suggestion, capture: str, detections_source: str) -> str:
    """The suggested policy as YAML, with a header saying where it came from and what changed."""
    import yaml

    base_bytes = suggestion.base_cost[1] or 1
    lines = [f"# Suggested by `auditbench policy suggest` from {suggestion.base.source},",
             f"# replayed on the capture {capture} with the detections in {detections_source}:",
             f"# {suggestion.base_cost[1]:,} -> {suggestion.cost[1]:,} bytes "
             f"({100.0 * (base_bytes - suggestion.cost[1]) / base_bytes:.1f}% less), every detection keeps its findings.",
             "# Edits, biggest saving first:"]
    for n, step in enumerate(suggestion.steps, 1):
        lines.append(f"#   {n}. {step.edit.summary} (-{step.saving_bytes:,} bytes, "
                     f"{100.0 * step.saving_bytes / base_bytes:.1f}%)")
    if not suggestion.steps:
        lines.append("#   none: no edit saves enough without losing a detection")
    body = yaml.safe_dump(suggestion.policy.to_dict(), sort_keys=False, default_flow_style=None, width=120)
    return "\n".join(lines) + "\n" + body


def report_json(suggestion: Suggestion, proof: Proof, out: str, lint_lines: list[str],
                rate_rps: float | None = None) -> dict[str, Any]:
    """Everything `policy suggest` prints, for machines."""
    requests = suggestion.capture_requests or 1
    per_day = (lambda b: b / requests * rate_rps * 86400.0) if rate_rps else (lambda b: None)
    new_cov = proof.coverage[1]
    kept = sum(d.kept_requests for d in new_cov.detections)
    found = sum(d.found_requests for d in new_cov.detections)
    return {
        "capture": {"requests": suggestion.capture_requests, "problems": proof.whatif.capture_problems},
        "rate_rps": rate_rps,
        "base": {"policy": suggestion.base.source, "events": suggestion.base_cost[0], "bytes": suggestion.base_cost[1],
                 "bytes_per_day": per_day(suggestion.base_cost[1])},
        "suggested": {"policy": out, "events": suggestion.cost[0], "bytes": suggestion.cost[1],
                      "bytes_per_day": per_day(suggestion.cost[1])},
        "edits": [{"kind": s.edit.kind, "summary": s.edit.summary, "saving_bytes": s.saving_bytes,
                   "saving_events": s.saving_events, "saving_bytes_per_day": per_day(s.saving_bytes),
                   "rule": s.edit.rule().to_dict() if s.edit.rule() else None} for s in suggestion.steps],
        "rejected": [{"kind": r.edit.kind, "summary": r.edit.summary, "saving_bytes": r.saving_bytes, "lost": r.lost}
                     for r in suggestion.rejected],
        "proof": {"keeps_every_detection": proof.keeps_every_detection, "matches_search": proof.matches_search,
                  "summary": f"{kept} of {found} detected requests still found; predicted "
                             f"{proof.whatif.predictions[1].bytes:,} bytes (search: {suggestion.cost[1]:,})",
                  "base_coverage": proof.coverage[0].to_json(), "coverage": new_cov.to_json()},
        "lint": lint_lines,
        "out": out,
    }
