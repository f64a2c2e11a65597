"""Policy lint: findings with stable ids, computed with the real checker semantics.

Reachability questions ("can a secrets request land on a Request-level rule?", "can rule 4
ever match?") are answered by evaluating the compiled policy over the finite request spaces
of space.py, which contain a witness for every class of requests the policy can tell apart.
A finding therefore comes with a concrete example request, and a rule is reported shadowed
only when no realistic request reaches it. Searches are capped; a capped search is reported
(AB008) instead of guessed.

Rule ids (stable; never reuse a retired id):
  AB001 error    secret material reaches the log: secrets or configmaps created, updated or
                 patched at Request or above (the request body holds the data), or read,
                 written or deleted at RequestResponse (the response body holds it);
                 serviceaccounts/token or tokenreviews at RequestResponse (the token is in the
                 response). Which verb carries which body is bodies.py's model: delete and
                 deletecollection send only DeleteOptions and get/list/watch no body, so
                 they are safe at Request (GKE's policy logs the namespace controller's
                 deletecollection at Request); a watch's stream is never logged.
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

from bench.policy import bodies
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


@dataclass(frozen=True)
class _Sensitive:
    """Requests whose bodies hold secret material: which bodies, and what they hold."""

    target: _Target
    what: str
    request: bool  # the request body of create/update/patch holds it
    response: bool  # the response body holds it (bodies.RESPONSE_DATA_VERBS)

    def leaks(self, verb: str, level: str) -> list[str]:
        """The bodies that carry the material into the log for this verb at this level."""
        out = []
        if self.request and bodies.request_data_logged(verb, level):
            out.append("request")
        if self.response and bodies.response_data_logged(verb, level):
            out.append("response")
        return out


_SENSITIVE = (
    _Sensitive(_Target("secrets", "", "secrets"), "the secret data", request=True, response=True),
    _Sensitive(_Target("configmaps", "", "configmaps"), "the configuration data", request=True, response=True),
    _Sensitive(_Target("serviceaccounts/token", "", "serviceaccounts/token", ("create",)), "the issued token",
               request=False, response=True),
    # The request body (spec.token) is AB009's business; at RequestResponse the response echoes it.
    _Sensitive(_Target("tokenreviews", "authentication.k8s.io", "tokenreviews", ("create",), True),
               "the bearer token under review", request=False, response=True),
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
    for sensitive in _SENSITIVE:
        findings += _leaks(compiled, v, sensitive, source)
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


def _leaks(compiled, v: Vocab, s: _Sensitive, source: str) -> list[Finding]:
    """AB001 per rule that logs a body holding ``s.what``; the message names the verbs that
    do and says why the others reaching the same rule do not."""
    leaking: dict[int, dict[str, set[str]]] = {}  # rule -> body -> verbs
    quiet: dict[int, set[str]] = {}
    first: dict[int, RequestAttributes] = {}
    levels: dict[int, str] = {}
    for attrs in requests_matching(s.target.rule(), v):
        d = compiled.evaluate(attrs)
        if d.rule_index is None:
            continue
        levels[d.rule_index] = d.level
        found = s.leaks(attrs.verb, d.level)
        if not found:
            quiet.setdefault(d.rule_index, set()).add(attrs.verb)
            continue
        first.setdefault(d.rule_index, attrs)
        for body in found:
            leaking.setdefault(d.rule_index, {}).setdefault(body, set()).add(attrs.verb)
    out = []
    for index in sorted(leaking):
        level = levels[index]
        held = " and ".join(f"the {body} bodies of {', '.join(sorted(verbs))}"
                            for body, verbs in sorted(leaking[index].items()))
        safe = bodies.explain_no_data(quiet.get(index, set()) - set().union(*leaking[index].values()), level)
        message = f"{s.target.label} can be logged at {level}: {held} hold {s.what}" + (f" ({safe})" if safe else "")
        out.append(Finding("AB001", "error", message, source, index, describe(first[index])))
    return out


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
