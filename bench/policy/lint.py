"""Policy lint: findings with stable ids, computed with the real checker semantics.

Reachability questions ("can a secrets request land on a Request-level rule?", "can rule 4
ever match?") are answered by evaluating the compiled policy over the finite request spaces
of space.py, which contain a witness for every class of requests the policy can tell apart.
A finding therefore comes with a concrete example request, and a rule is reported shadowed
only when no realistic request reaches it. Searches are capped; a capped search is reported
(AB008) instead of guessed.

Rule ids (stable; never reuse a retired id):
  AB001 error    secret material reaches the log: secrets or configmaps at Request or
                 RequestResponse (bodies hold the data), serviceaccounts/token or tokenreviews
                 at RequestResponse (the token is in the response)
  AB002 warning  a rule can never match (earlier rules catch every request it matches, or no
                 real request matches it)
  AB003 info     no catch-all: some requests match no rule and are not audited (level None)
  AB004 warning  a rule that logs does not omit RequestReceived (two events per request)
  AB005 warning  RequestResponse on high-volume requests (pods, deployments, events,
                 endpoints, leases, any list or watch)
  AB006 warning  the apiserver would warn and ignore part of the file (lenient decoding)
  AB007 warning  a verb no request carries (verbs are lowercase: get, list, ..., or HTTP
                 methods for non-resource URLs)
  AB008 info     the shadowing search hit its cap; the rule was not checked
  AB009 warning  tokenreviews at Request: the request body (spec.token) is a bearer token.
                 The reference article's production policy does this; AB009 is a warning so
                 that policy lints without errors (see the project notes).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable

from bench.policy.checker import compile_policy
from bench.policy.model import LEVEL_RANK, GroupResources, Policy, PolicyRule
from bench.policy.request import RequestAttributes, describe
from bench.policy.space import NONRESOURCE_VERBS, RESOURCE_VERBS, Vocab, requests_matching, vocab

SEVERITIES = ("error", "warning", "info")
SHADOW_SEARCH_CAP = 200_000
ALL_VERBS = frozenset(RESOURCE_VERBS + NONRESOURCE_VERBS)


@dataclass(frozen=True)
class Finding:
    rule_id: str
    severity: str
    message: str
    source: str
    rule_index: int | None = None
    example: str | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def line(self) -> str:
        where = f" rules[{self.rule_index}]" if self.rule_index is not None else ""
        example = f" (e.g. {self.example})" if self.example else ""
        return f"{self.source}:{where} {self.severity} {self.rule_id}: {self.message}{example}"


@dataclass(frozen=True)
class _Target:
    """A class of requests to ask "at which level can this be logged?" about."""

    label: str
    group: str
    resource: str  # "res" or "res/sub"
    verbs: tuple[str, ...] = ()
    cluster_scoped: bool = False

    def rule(self) -> PolicyRule:
        return PolicyRule(
            "None",
            verbs=self.verbs,
            resources=(GroupResources(self.group, (self.resource,)),),
            namespaces=("",) if self.cluster_scoped else (),
        )


# (target, minimum level that leaks, rule id, severity, why)
_SENSITIVE = (
    (_Target("secrets", "", "secrets"), "Request", "AB001", "error", "request/response bodies hold the secret data"),
    (_Target("configmaps", "", "configmaps"), "Request", "AB001", "error", "request/response bodies hold the configuration data"),
    (_Target("serviceaccounts/token", "", "serviceaccounts/token", ("create",)), "RequestResponse", "AB001", "error",
     "the response body holds the issued token"),
    (_Target("tokenreviews", "authentication.k8s.io", "tokenreviews", ("create",), True), "RequestResponse", "AB001", "error",
     "the bodies hold the bearer token under review"),
)
_TOKENREVIEW_REQUEST = _Target("tokenreviews", "authentication.k8s.io", "tokenreviews", ("create",), True)
_HIGH_VOLUME = (
    _Target("pods", "", "pods"),
    _Target("deployments", "apps", "deployments"),
    _Target("events", "", "events"),
    _Target("events.k8s.io events", "events.k8s.io", "events"),
    _Target("endpoints", "", "endpoints"),
    _Target("leases", "coordination.k8s.io", "leases"),
    _Target("list/watch of any resource", "*", "*", ("list", "watch")),
)


def lint(policy: Policy, source: str | None = None) -> list[Finding]:
    """All findings for `policy`, errors first, then by rule index."""
    source = source or policy.source
    compiled = compile_policy(policy)
    v = vocab(policy.rules)
    findings = [Finding("AB006", "warning", w, source) for w in policy.warnings]
    findings += _unknown_verbs(policy, source)
    reachable = _shadowing(policy, source, findings)
    for target, min_level, rule_id, severity, why in _SENSITIVE:
        findings += _reach(compiled, v, target, min_level, rule_id, severity,
                           f"{target.label} can be logged at {{level}}: {why}", source)
    findings += _reach(compiled, v, _TOKENREVIEW_REQUEST, "Request", "AB009", "warning",
                       "tokenreviews can be logged at {level}: the request body (spec.token) is a bearer token", source,
                       exact_level="Request")
    for target in _HIGH_VOLUME:
        findings += _reach(compiled, v, target, "RequestResponse", "AB005", "warning",
                           f"{target.label} can be logged at {{level}}; high-volume requests with full bodies "
                           "make the log large and the apiserver slower", source)
    findings += _request_received(policy, compiled, reachable, source)
    findings += _fall_through(policy, compiled, source)
    order = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(findings, key=lambda f: (order[f.severity], f.rule_index if f.rule_index is not None else -1, f.rule_id))


def _unknown_verbs(policy: Policy, source: str) -> list[Finding]:
    out = []
    for i, rule in enumerate(policy.rules):
        odd = [verb for verb in rule.verbs if verb not in ALL_VERBS]
        if odd:
            out.append(Finding("AB007", "warning", f"verbs {odd} match no request (verbs are lowercase; "
                               "resource verbs are get, list, watch, create, update, patch, delete, "
                               "deletecollection, proxy; non-resource ones are HTTP methods)", source, i))
    return out


def _shadowing(policy: Policy, source: str, findings: list[Finding]) -> set[int]:
    """Indexes of rules some realistic request reaches; adds AB002/AB008 findings."""
    compiled = compile_policy(policy)
    reachable: set[int] = set()
    for i, rule in enumerate(policy.rules):
        earlier = compiled.rules[:i]
        own = compiled.rules[i]
        tried = 0
        witness = None
        for attrs in requests_matching(rule, vocab(policy.rules[: i + 1])):
            tried += 1
            if own.matches(attrs) and not any(r.matches(attrs) for r in earlier):
                witness = attrs
                break
            if tried >= SHADOW_SEARCH_CAP:
                break
        if witness is not None:
            reachable.add(i)
        elif tried >= SHADOW_SEARCH_CAP:
            findings.append(Finding("AB008", "info", f"shadowing not decided: more than {SHADOW_SEARCH_CAP} "
                                    "request classes to try", source, i))
            reachable.add(i)  # unknown: do not claim more about it
        elif tried == 0:
            findings.append(Finding("AB002", "warning", "no real request matches this rule", source, i))
        else:
            catchers = _catchers(compiled, rule, policy, i)
            findings.append(Finding("AB002", "warning", f"never matches: earlier rules {catchers} catch every "
                                    "request it would match", source, i))
    return reachable


def _catchers(compiled, rule: PolicyRule, policy: Policy, i: int) -> list[int]:
    hits: set[int] = set()
    for n, attrs in enumerate(requests_matching(rule, vocab(policy.rules[: i + 1]))):
        decision = compiled.evaluate(attrs)
        if decision.rule_index is not None:
            hits.add(decision.rule_index)
        if n > 20_000:
            break
    return sorted(hits)


def _reach(compiled, v: Vocab, target: _Target, min_level: str, rule_id: str, severity: str, message: str,
           source: str, exact_level: str | None = None) -> list[Finding]:
    """One finding per rule that a request of `target` reaches at `min_level` or above."""
    first: dict[int, tuple[str, RequestAttributes]] = {}
    for attrs in requests_matching(target.rule(), v):
        d = compiled.evaluate(attrs)
        if d.rule_index is None or d.rule_index in first:
            continue
        hit = d.level == exact_level if exact_level else LEVEL_RANK[d.level] >= LEVEL_RANK[min_level]
        if hit:
            first[d.rule_index] = (d.level, attrs)
    return [
        Finding(rule_id, severity, message.format(level=level), source, index, describe(attrs))
        for index, (level, attrs) in sorted(first.items())
    ]


def _request_received(policy: Policy, compiled, reachable: set[int], source: str) -> list[Finding]:
    out = []
    for i in sorted(reachable):
        d = compiled.rules[i].decision
        if d.level != "None" and "RequestReceived" not in d.omit_stages:
            out.append(Finding("AB004", "warning", f"level {d.level} without omitting RequestReceived: every "
                               "matching request writes an extra event when it arrives", source, i))
    return out


def _fall_through(policy: Policy, compiled, source: str) -> list[Finding]:
    if any(rule.is_catch_all() for rule in policy.rules):
        return []
    for n, attrs in enumerate(requests_matching(PolicyRule("None"), vocab(policy.rules))):
        if compiled.evaluate(attrs).rule_index is None:
            return [Finding("AB003", "info", "no catch-all rule: requests that match no rule are not audited",
                            source, None, describe(attrs))]
        if n >= SHADOW_SEARCH_CAP:
            break
    return []


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(f.severity == "error" for f in findings)
