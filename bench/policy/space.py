"""Finite request spaces that decide policy questions exactly (used by lint and diff).

Every test in the checker compares a request field with constants written in the policy
(equality, set membership, or a URL prefix). So for any question "is there a request that
does X", it is enough to try, per field, each constant the policy mentions plus one fresh
value that equals none of them (and, for URLs, each prefix extended by a fresh suffix). The
generators below enumerate that product, restricted to requests a real apiserver can see:
real verbs for the request kind, a name on get/update/patch/delete and on subresources, none
on create and deletecollection, the namespace of a namespaces request equal to its name, and
every user in system:authenticated (system:anonymous in system:unauthenticated). Group sets
hold at most one extra group: a userGroups test can only match more often when groups are
added, so a smallest set is always the best witness.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Iterable, Iterator

from bench.policy.model import GroupResources, PolicyRule
from bench.policy.request import RequestAttributes

RESOURCE_VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "proxy")
NONRESOURCE_VERBS = ("get", "head", "post", "put", "patch", "delete", "options")
FRESH_USER = "someone"
ANONYMOUS = "system:anonymous"
FRESH_NS = "some-namespace"
FRESH_GROUP = "example.com"
FRESH_RESOURCE = "widgets"
FRESH_SUB = "widgetstatus"
FRESH_NAME = "some-name"
FRESH_PATH = "/some-path"


@dataclass(frozen=True)
class Vocab:
    users: tuple[str, ...]
    user_groups: tuple[str, ...]
    namespaces: tuple[str, ...]
    api_groups: tuple[str, ...]
    resources: tuple[str, ...]
    subresources: tuple[str, ...]
    names: tuple[str, ...]
    urls: tuple[str, ...]


def _uniq(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def vocab(rules: Iterable[PolicyRule]) -> Vocab:
    users, groups, nss, api_groups, res, subs, names, urls = ([] for _ in range(8))
    for rule in rules:
        users += rule.users
        groups += rule.user_groups
        nss += rule.namespaces
        urls += rule.non_resource_urls
        for gr in rule.resources:
            if gr.group != "*":
                api_groups.append(gr.group)
            names += gr.resource_names
            for form in gr.resources:
                head, _, tail = form.partition("/")
                if head != "*":
                    res.append(head)
                if tail and tail != "*":
                    subs.append(tail)
    return Vocab(*(_uniq(v) for v in (users, groups, nss, api_groups, res, subs, names, urls)))


def _with_fresh(fresh: str, values: tuple[str, ...]) -> tuple[str, ...]:
    # fresh first: it escapes every earlier rule's list, so witnesses are found fast
    return _uniq((fresh, *values))


def _identities(rule: PolicyRule, v: Vocab) -> list[tuple[str, tuple[str, ...]]]:
    users = rule.users or _with_fresh(FRESH_USER, v.users + (ANONYMOUS,))
    out = []
    for user in users:
        base = "system:unauthenticated" if user == ANONYMOUS else "system:authenticated"
        extras: Iterable[str] = rule.user_groups or ("",)
        for extra in extras:
            if extra in ("system:authenticated", "system:unauthenticated") and extra != base:
                continue  # no real user is in both
            out.append((user, (base,) if extra in ("", base) else (base, extra)))
    return out


def _gr_combos(grs: tuple[GroupResources, ...], v: Vocab) -> list[tuple[str, str, str, str]]:
    """(api group, resource, subresource, name) candidates that the given entries match
    (all candidates over the vocabulary when the rule has no resources)."""
    subs_any = _uniq(("",) + v.subresources + (FRESH_SUB,))
    res_any = _with_fresh(FRESH_RESOURCE, v.resources)
    names_any = _uniq(("", FRESH_NAME) + v.names)
    if not grs:
        grs = (GroupResources("*"),)
    out: list[tuple[str, str, str, str]] = []
    for gr in grs:
        groups = _with_fresh(FRESH_GROUP, ("",) + v.api_groups) if gr.group == "*" else (gr.group,)
        pairs: list[tuple[str, str]] = []
        if not gr.resources:
            pairs = [(r, s) for r in res_any for s in subs_any]
        for form in gr.resources:
            head, slash, tail = form.partition("/")
            heads = res_any if head == "*" else (head,)
            if form == "*":
                tails = subs_any
            elif not slash:
                tails = ("",)
            elif tail == "*":
                tails = subs_any
            else:
                tails = (tail,)
            pairs += [(h, t) for h in heads for t in tails]
        names = gr.resource_names if (gr.resource_names and gr.resources) else names_any
        out += [(g, r, s, n) for g in groups for r, s in _uniq_pairs(pairs) for n in names]
    return list(dict.fromkeys(out))


def _uniq_pairs(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return list(dict.fromkeys(pairs))


def realistic(verb: str, subresource: str, name: str, resource: str, namespace: str) -> bool:
    """Could RequestInfo produce this combination for a resource request?"""
    if resource == "namespaces" and namespace != name:
        return False
    if subresource:
        return bool(name) and verb in ("get", "create", "update", "patch", "delete")
    if verb in ("get", "update", "patch", "delete", "proxy"):
        return bool(name)
    if verb in ("create", "deletecollection"):
        return not name
    return verb in ("list", "watch")


def requests_matching(rule: PolicyRule, v: Vocab) -> Iterator[RequestAttributes]:
    """Realistic requests that `rule` matches, covering every class the vocabulary separates."""
    idents = _identities(rule, v)
    resource_rule = bool(rule.resources or rule.namespaces)
    if not rule.non_resource_urls:
        verbs = [x for x in (rule.verbs or RESOURCE_VERBS) if x in RESOURCE_VERBS]
        namespaces = rule.namespaces or _uniq((FRESH_NS, "") + v.namespaces)
        combos = _gr_combos(rule.resources, v)
        for (g, r, s, n), verb, ns, (user, groups) in itertools.product(combos, verbs, namespaces, idents):
            if r == "namespaces":
                ns = n
                if rule.namespaces and ns not in rule.namespaces:
                    continue
            if realistic(verb, s, n, r, ns):
                yield RequestAttributes(user, groups, verb, ns, g, "v1", r, s, n, "", True)
    if not resource_rule:
        verbs = [x for x in (rule.verbs or NONRESOURCE_VERBS) if x in NONRESOURCE_VERBS]
        for path, verb, (user, groups) in itertools.product(_paths(rule.non_resource_urls, v), verbs, idents):
            yield RequestAttributes(user, groups, verb, api_version="", path=path, is_resource_request=False)


def _paths(specs: tuple[str, ...], v: Vocab) -> tuple[str, ...]:
    known = [u.rstrip("*") for u in v.urls if u != "*"]
    everything = _uniq([FRESH_PATH] + [k + suffix for k in known for suffix in ("", "~x")])
    if not specs or "*" in specs:
        return everything
    out: list[str] = []
    for spec in specs:
        if spec.endswith("*"):
            prefix = spec.rstrip("*")
            out += [prefix + "~x", prefix] + [p for p in everything if p.startswith(prefix)]
        else:
            out.append(spec)
    return _uniq(out)
