"""The audit policy checker, with the semantics of kube-apiserver v1.37.2.

Port of k8s.io/apiserver/pkg/audit/policy/checker.go (v0.37.2):
- rules are tried in order; the first whose every set field matches wins; no match gives
  level None with the policy-wide omitStages and omitManagedFields;
- users: exact name; userGroups: any of the user's groups; both never match without a user
  (a request whose authentication failed);
- verbs: exact (non-resource requests carry the lowercase HTTP method);
- a rule with namespaces or resources only matches resource requests; namespaces are exact
  ("" = cluster-scoped; for the namespaces resource itself the namespace is the object's name);
- resources: group equal or "*"; an empty resources list matches the whole group; each entry
  is "res" or "res/sub" (exact against resource[/subresource]), "*" (anything, subresources
  too), "*/sub" (that subresource of any resource), "res/*" (res itself and all its
  subresources); resourceNames, when set, must contain the request's name;
- a rule with nonResourceURLs only matches non-resource requests: "*", exact, or a prefix
  ending in "*";
- a rule with none of these fields matches every request;
- omitStages = policy's union rule's; omitManagedFields = rule's if set, else the policy's.

Compiled once per Policy (cached on the object) so evaluation allocates nothing per call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from bench.policy.loader import parse_policy
from bench.policy.model import Policy, PolicyRule
from bench.policy.request import RequestAttributes, is_long_running

__all__ = [
    "Decision",
    "RequestAttributes",
    "evaluate",
    "first_mismatch",
    "is_long_running",
    "rule_matches",
    "stages_for",
]


@dataclass(frozen=True)
class Decision:
    rule_index: int | None  # None: no rule matched (level None)
    level: str
    omit_stages: frozenset[str]
    omit_managed_fields: bool


class _GR:
    """One GroupResources entry, pre-split by wildcard form."""

    __slots__ = ("group", "any_group", "whole_group", "names", "exact", "star", "star_sub", "res_star")

    def __init__(self, group: str, resources: tuple[str, ...], names: tuple[str, ...]) -> None:
        self.group = group
        self.any_group = group == "*"
        self.whole_group = not resources
        self.names = frozenset(names) if names else None
        self.exact = frozenset(resources)
        self.star = "*" in self.exact
        self.star_sub = frozenset(r[2:] for r in resources if r.startswith("*/"))
        self.res_star = frozenset(r[:-2] for r in resources if r.endswith("/*"))

    def matches(self, a: RequestAttributes) -> bool:
        if not (self.any_group or self.group == a.api_group):
            return False
        if self.whole_group:
            return True
        if self.names is not None and a.name not in self.names:
            return False
        sub = a.subresource
        combined = a.resource + "/" + sub if sub else a.resource
        return (
            self.star
            or combined in self.exact
            or (bool(sub) and sub in self.star_sub)
            or a.resource in self.res_star
        )


class _Rule:
    __slots__ = ("users", "groups", "verbs", "resource_rule", "namespaces", "grs", "url_rule",
                 "url_star", "url_exact", "url_prefixes", "decision")

    def __init__(self, rule: PolicyRule, decision: Decision) -> None:
        self.users = frozenset(rule.users) if rule.users else None
        self.groups = frozenset(rule.user_groups) if rule.user_groups else None
        self.verbs = frozenset(rule.verbs) if rule.verbs else None
        self.resource_rule = bool(rule.namespaces or rule.resources)
        self.namespaces = frozenset(rule.namespaces) if rule.namespaces else None
        self.grs = tuple(_GR(gr.group, gr.resources, gr.resource_names) for gr in rule.resources)
        self.url_rule = bool(rule.non_resource_urls)
        self.url_star = "*" in rule.non_resource_urls
        self.url_exact = frozenset(rule.non_resource_urls)
        # strings.TrimRight(spec, "*") removes every trailing "*"
        self.url_prefixes = tuple(u.rstrip("*") for u in rule.non_resource_urls if u.endswith("*"))
        self.decision = decision

    def matches(self, a: RequestAttributes) -> bool:
        if self.users is not None and (not a.authenticated or a.user not in self.users):
            return False
        if self.groups is not None and (not a.authenticated or self.groups.isdisjoint(a.groups)):
            return False
        if self.verbs is not None and a.verb not in self.verbs:
            return False
        if self.resource_rule:
            if not a.is_resource_request:
                return False
            if self.namespaces is not None and a.namespace not in self.namespaces:
                return False
            if not self.grs:
                return True
            for gr in self.grs:
                if gr.matches(a):
                    return True
            return False
        if self.url_rule:
            if a.is_resource_request:
                return False
            path = a.path
            return self.url_star or path in self.url_exact or path.startswith(self.url_prefixes)
        return True


class CompiledPolicy:
    __slots__ = ("rules", "default", "policy")

    def __init__(self, policy: Policy) -> None:
        base = frozenset(policy.omit_stages)
        self.policy = policy
        self.rules = tuple(
            _Rule(
                rule,
                Decision(
                    i,
                    rule.level,
                    base | frozenset(rule.omit_stages),
                    policy.omit_managed_fields if rule.omit_managed_fields is None else rule.omit_managed_fields,
                ),
            )
            for i, rule in enumerate(policy.rules)
        )
        self.default = Decision(None, "None", base, policy.omit_managed_fields)

    def evaluate(self, attrs: RequestAttributes) -> Decision:
        for rule in self.rules:
            if rule.matches(attrs):
                return rule.decision
        return self.default


def compile_policy(policy: Policy) -> CompiledPolicy:
    """Compiled form of a Policy, cached on the (frozen) object itself: hashing a whole
    policy per call would cost more than evaluating it."""
    compiled = policy.__dict__.get("_compiled")
    if compiled is None:
        compiled = CompiledPolicy(policy)
        policy.__dict__["_compiled"] = compiled
    return compiled


def _as_policy(policy: Policy | Mapping[str, Any]) -> Policy:
    if isinstance(policy, Policy):
        return policy
    return parse_policy(dict(policy), "<dict>")


def evaluate(policy: Policy | Mapping[str, Any], attrs: RequestAttributes) -> Decision:
    """The audit level etc. kube-apiserver would apply to `attrs` under `policy`.

    Pass a Policy (from load_policy/parse_policy) in hot loops; a dict is validated each call.
    """
    return compile_policy(_as_policy(policy)).evaluate(attrs)


def rule_matches(rule: PolicyRule, attrs: RequestAttributes) -> bool:
    return _Rule(rule, Decision(0, rule.level, frozenset(), False)).matches(attrs)


def first_mismatch(rule: PolicyRule, attrs: RequestAttributes) -> str | None:
    """The first field (in checker order) that keeps `rule` from matching, or None if it matches."""
    if rule.users and (not attrs.authenticated or attrs.user not in rule.users):
        return "users"
    if rule.user_groups and (not attrs.authenticated or not set(rule.user_groups) & set(attrs.groups)):
        return "userGroups"
    if rule.verbs and attrs.verb not in rule.verbs:
        return "verbs"
    if rule.namespaces or rule.resources:
        if not attrs.is_resource_request:
            return "resources (a non-resource request)"
        if rule.namespaces and attrs.namespace not in rule.namespaces:
            return "namespaces"
        if rule.resources and not any(_GR(g.group, g.resources, g.resource_names).matches(attrs) for g in rule.resources):
            return "resources"
        return None
    if rule.non_resource_urls:
        if attrs.is_resource_request:
            return "nonResourceURLs (a resource request)"
        return None if rule_matches(rule, attrs) else "nonResourceURLs"
    return None


def stages_for(decision: Decision, long_running: bool, authenticated: bool = True) -> list[str]:
    """Stages the apiserver emits for one request, in order (endpoints/filters/audit.go).

    Level None emits nothing. Otherwise RequestReceived, then ResponseStarted for long-running
    requests only (emitted when the response header is written, or faked at the end if
    nothing was written, so even a 403/404 long-running request gets it), then
    ResponseComplete. Panic replaces the end of the sequence only when the handler panics, so
    it is never predicted here. A request whose authentication failed
    (authn_audit.go) emits only ResponseStarted. Stages in omit_stages are dropped.
    """
    if decision.level == "None":
        return []
    if not authenticated:
        seq = ["ResponseStarted"]
    elif long_running:
        seq = ["RequestReceived", "ResponseStarted", "ResponseComplete"]
    else:
        seq = ["RequestReceived", "ResponseComplete"]
    return [s for s in seq if s not in decision.omit_stages]


def expected_stages(policy: Policy | Mapping[str, Any], attrs: RequestAttributes) -> tuple[Decision, list[str]]:
    """Decision plus the stages it produces for this request (convenience for tests)."""
    decision = evaluate(policy, attrs)
    return decision, stages_for(decision, is_long_running(attrs), attrs.authenticated)
