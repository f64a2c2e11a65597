"""A request corpus covering every policy-rule feature, and a random policy generator.

Every corpus request is sendable to a kube-apiserver with only built-in APIs (core, apps,
rbac, coordination, authentication, authorization, events.k8s.io) by one of the local
backend's test identities; `to_http` gives the method and URI. Many get 403/404 (no kubelet,
objects absent): that does not change the audit level or stages, since the audit filter runs
before authorization and routing. Groups include "system:authenticated", which the apiserver
adds to every authenticated user.
"""

from __future__ import annotations

import random
from typing import Any

from bench.policy.model import LEVELS, STAGES
from bench.policy.request import RequestAttributes, parse_request, to_http

# token-file groups of the local backend's identities; the apiserver appends system:authenticated
IDENTITY_GROUPS: dict[str, tuple[str, ...]] = {
    "admin": ("system:masters",),
    "alice": ("platform-admins",),
    "bob": ("developers",),
    "system:serviceaccount:ci:deploy-bot": ("system:serviceaccounts", "system:serviceaccounts:ci"),
    "system:node:worker-1": ("system:nodes",),
    "system:serviceaccount:monitoring:prometheus": ("system:serviceaccounts", "system:serviceaccounts:monitoring"),
}
IDENTITIES: dict[str, tuple[str, ...]] = {u: g + ("system:authenticated",) for u, g in IDENTITY_GROUPS.items()}
NAMESPACES = ("production", "staging", "kube-system", "default")

# (method, URI template); {ns} is expanded over the namespaces listed with it.
_NAMESPACED: list[tuple[str, str, tuple[str, ...]]] = []
_CLUSTER: list[tuple[str, str]] = []


def _ns(method: str, uri: str, namespaces: tuple[str, ...] = ("production", "staging")) -> None:
    _NAMESPACED.append((method, uri, namespaces))


for _m, _u in [
    ("GET", "pods"), ("GET", "pods?watch=1"), ("GET", "pods/web-1"), ("POST", "pods"), ("PUT", "pods/web-1"),
    ("PATCH", "pods/web-1"), ("DELETE", "pods/web-1"), ("DELETE", "pods"),
    ("POST", "pods/web-1/exec"), ("GET", "pods/web-1/exec"), ("POST", "pods/web-1/attach"),
    ("POST", "pods/web-1/portforward"), ("GET", "pods/web-1/log"), ("GET", "pods/web-1/status"),
    ("PATCH", "pods/web-1/status"), ("POST", "pods/web-1/eviction"), ("GET", "pods/web-1/proxy"),
    ("GET", "secrets"), ("GET", "secrets?watch=1"), ("GET", "secrets/db-password"), ("GET", "secrets/tls-cert"),
    ("POST", "secrets"), ("PUT", "secrets/db-password"), ("PATCH", "secrets/db-password"),
    ("DELETE", "secrets/db-password"), ("DELETE", "secrets"),
    ("GET", "secrets?fieldSelector=metadata.name%3Ddb-password"),
    ("GET", "configmaps"), ("GET", "configmaps/app-config"), ("POST", "configmaps"), ("PUT", "configmaps/app-config"),
    ("DELETE", "configmaps/app-config"), ("GET", "configmaps?watch=1"),
    ("GET", "serviceaccounts"), ("GET", "serviceaccounts/deploy-bot"), ("POST", "serviceaccounts"),
    ("POST", "serviceaccounts/deploy-bot/token"),
    ("GET", "events"), ("GET", "events?watch=1"), ("POST", "events"), ("GET", "events/web-1.17a"),
    ("GET", "endpoints"), ("GET", "endpoints/web"), ("GET", "endpoints?watch=1"), ("PUT", "endpoints/web"),
    ("GET", "services"), ("GET", "services/web"), ("POST", "services"), ("GET", "services/web/proxy"),
]:
    _ns(_m, "/api/v1/namespaces/{ns}/" + _u)
for _m, _u in [
    ("GET", "deployments"), ("GET", "deployments?watch=1"), ("GET", "deployments/web"), ("POST", "deployments"),
    ("PUT", "deployments/web"), ("PATCH", "deployments/web"), ("DELETE", "deployments/web"),
    ("GET", "deployments/web/scale"), ("PUT", "deployments/web/scale"), ("GET", "deployments/web/status"),
    ("GET", "replicasets"), ("GET", "statefulsets/db"), ("GET", "daemonsets"),
]:
    _ns(_m, "/apis/apps/v1/namespaces/{ns}/" + _u)
for _m, _u in [
    ("GET", "roles"), ("GET", "roles/reader"), ("POST", "roles"), ("PUT", "roles/reader"), ("DELETE", "roles/reader"),
    ("GET", "rolebindings"), ("POST", "rolebindings"), ("DELETE", "rolebindings/read-secrets"),
]:
    _ns(_m, "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/" + _u)
for _m, _u in [("GET", "leases"), ("GET", "leases/kube-scheduler"), ("PUT", "leases/kube-scheduler"),
               ("POST", "leases"), ("GET", "leases?watch=1")]:
    _ns(_m, "/apis/coordination.k8s.io/v1/namespaces/{ns}/" + _u, ("kube-system", "default"))
for _m, _u in [("GET", "events"), ("POST", "events"), ("GET", "events?watch=1")]:
    _ns(_m, "/apis/events.k8s.io/v1/namespaces/{ns}/" + _u)
_ns("POST", "/apis/authorization.k8s.io/v1/namespaces/{ns}/localsubjectaccessreviews")
_ns("GET", "/api/v1/watch/namespaces/{ns}/pods")  # verb "watch" from the path prefix
_ns("GET", "/api/v1/proxy/namespaces/{ns}/pods/web-1")  # verb "proxy" from the path prefix (404)

_CLUSTER += [
    ("GET", "/api/v1/namespaces"), ("GET", "/api/v1/namespaces?watch=1"), ("GET", "/api/v1/namespaces/production"),
    ("POST", "/api/v1/namespaces"), ("DELETE", "/api/v1/namespaces/staging"), ("PATCH", "/api/v1/namespaces/staging"),
    ("PUT", "/api/v1/namespaces/staging/finalize"), ("GET", "/api/v1/namespaces/production/status"),
    ("GET", "/api/v1/nodes"), ("GET", "/api/v1/nodes/worker-1"), ("POST", "/api/v1/nodes"),
    ("PATCH", "/api/v1/nodes/worker-1"), ("DELETE", "/api/v1/nodes/worker-1"), ("PUT", "/api/v1/nodes/worker-1/status"),
    ("GET", "/api/v1/nodes/worker-1/proxy"), ("GET", "/api/v1/nodes?watch=1"),
    ("GET", "/api/v1/persistentvolumes"),
    ("GET", "/api/v1/pods"), ("GET", "/api/v1/secrets"), ("GET", "/api/v1/events"), ("GET", "/api/v1/endpoints?watch=1"),
    ("GET", "/apis/apps/v1/deployments"),
    ("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles"), ("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles/cluster-admin"),
    ("POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles"), ("PUT", "/apis/rbac.authorization.k8s.io/v1/clusterroles/auditor"),
    ("DELETE", "/apis/rbac.authorization.k8s.io/v1/clusterroles/auditor"),
    ("GET", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"), ("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"),
    ("PATCH", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/cluster-admin"),
    ("DELETE", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/bob-admin"),
    ("POST", "/apis/authentication.k8s.io/v1/tokenreviews"), ("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews"),
    ("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews"), ("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"),
    ("GET", "/apis/coordination.k8s.io/v1/leases"),
    # non-resource requests
    ("GET", "/healthz"), ("GET", "/healthz/etcd"), ("HEAD", "/healthz"), ("POST", "/healthz"),
    ("GET", "/readyz"), ("GET", "/readyz?verbose"), ("GET", "/livez"), ("GET", "/livez/ping"),
    ("GET", "/version"), ("GET", "/metrics"), ("GET", "/api"), ("GET", "/apis"), ("GET", "/apis/apps"),
    ("GET", "/apis/apps/v1"), ("GET", "/openapi/v3"), ("GET", "/debug/pprof/"), ("GET", "/logs/"),
    ("GET", "/no-such-path"),
]

# vocabulary for random policies: what the corpus can exercise
GROUP_RESOURCES: dict[str, tuple[str, ...]] = {
    "": ("pods", "secrets", "configmaps", "serviceaccounts", "events", "endpoints", "services", "namespaces",
         "nodes", "persistentvolumes"),
    "apps": ("deployments", "replicasets", "statefulsets", "daemonsets"),
    "rbac.authorization.k8s.io": ("roles", "rolebindings", "clusterroles", "clusterrolebindings"),
    "coordination.k8s.io": ("leases",),
    "authentication.k8s.io": ("tokenreviews", "selfsubjectreviews"),
    "authorization.k8s.io": ("subjectaccessreviews", "selfsubjectaccessreviews", "localsubjectaccessreviews"),
    "events.k8s.io": ("events",),
}
SUBRESOURCES = ("exec", "attach", "portforward", "log", "status", "proxy", "token", "scale", "eviction", "finalize")
NAMES = ("web-1", "db-password", "tls-cert", "app-config", "deploy-bot", "web", "kube-scheduler", "production",
         "staging", "worker-1", "cluster-admin", "auditor", "reader")
URLS = ("/healthz", "/healthz/etcd", "/readyz", "/livez", "/livez/ping", "/version", "/metrics", "/api", "/apis",
        "/apis/apps", "/openapi/v3", "/debug/pprof/", "/logs/")
VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "proxy")
HTTP_VERBS = ("get", "head", "post")
ALL_GROUPS = tuple(sorted({g for gs in IDENTITIES.values() for g in gs}))


def _http_requests() -> list[tuple[str, str]]:
    out = [(m, u.format(ns=ns)) for m, u, nss in _NAMESPACED for ns in nss]
    return out + list(_CLUSTER)


def corpus(seed: int | None = None) -> list[RequestAttributes]:
    """Every corpus request for every identity. seed=None: canonical order. With a seed: the
    same requests shuffled, plus seeded variants with other names and namespaces."""
    requests = [
        parse_request(user, groups, method, uri)
        for method, uri in _http_requests()
        for user, groups in IDENTITIES.items()
    ]
    if seed is None:
        return requests
    rng = random.Random(seed)
    extra = []
    for attrs in rng.sample(requests, k=len(requests) // 4):
        if not attrs.is_resource_request:
            continue
        name = rng.choice(NAMES) if attrs.name else ""
        ns = attrs.namespace
        if ns and attrs.resource != "namespaces":
            ns = rng.choice(NAMESPACES)
        elif attrs.resource == "namespaces" and name:
            ns = name  # for the namespaces resource the namespace is the object's name
        variant = RequestAttributes(attrs.user, attrs.groups, attrs.verb, ns, attrs.api_group, attrs.api_version,
                                    attrs.resource, attrs.subresource, name, "", True)
        http = to_http(variant)
        extra.append(parse_request(attrs.user, attrs.groups, http.method, http.uri()))
    out = requests + extra
    rng.shuffle(out)
    return out


def random_policy(rng: random.Random) -> dict[str, Any]:
    """A valid audit.k8s.io/v1 Policy using every rule feature over the corpus vocabulary."""
    rules = [_random_rule(rng) for _ in range(rng.randint(1, 8))]
    if rng.random() < 0.5:
        rules.append({"level": rng.choice(LEVELS)})
    doc: dict[str, Any] = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": rules}
    if rng.random() < 0.3:
        doc["omitStages"] = rng.sample(STAGES, rng.randint(1, 2))
    if rng.random() < 0.1:
        doc["omitManagedFields"] = True
    return doc


def _random_rule(rng: random.Random) -> dict[str, Any]:
    rule: dict[str, Any] = {"level": rng.choice(LEVELS)}
    kind = rng.choices(("resource", "nonresource", "generic"), (0.6, 0.2, 0.2))[0]
    if rng.random() < 0.2:
        rule["users"] = rng.sample(list(IDENTITIES) + ["nobody"], rng.randint(1, 2))
    if rng.random() < 0.25:
        rule["userGroups"] = rng.sample(ALL_GROUPS, rng.randint(1, 2))
    if rng.random() < 0.4:
        rule["verbs"] = rng.sample(HTTP_VERBS if kind == "nonresource" else VERBS, rng.randint(1, 3))
    if kind == "resource":
        if rng.random() < 0.3:
            rule["namespaces"] = rng.sample(NAMESPACES + ("",), rng.randint(1, 2))
        if rng.random() < 0.85 or "namespaces" not in rule:
            rule["resources"] = [_random_group_resources(rng) for _ in range(rng.randint(1, 2))]
    elif kind == "nonresource":
        rule["nonResourceURLs"] = [_random_url(rng) for _ in range(rng.randint(1, 2))]
    if rng.random() < 0.3:
        rule["omitStages"] = rng.sample(STAGES, rng.randint(1, 2))
    if rng.random() < 0.15:
        rule["omitManagedFields"] = rng.random() < 0.5
    return rule


def _random_group_resources(rng: random.Random) -> dict[str, Any]:
    group = rng.choice(list(GROUP_RESOURCES) + ["*"])
    gr: dict[str, Any] = {"group": group}
    if rng.random() < 0.15:
        return gr  # the whole group
    pool = GROUP_RESOURCES.get(group) or tuple(r for rs in GROUP_RESOURCES.values() for r in rs)
    forms = []
    for _ in range(rng.randint(1, 3)):
        res, sub = rng.choice(pool), rng.choice(SUBRESOURCES)
        forms.append(rng.choice([res, res, f"{res}/{sub}", "*", f"*/{sub}", f"{res}/*"]))
    gr["resources"] = forms
    if rng.random() < 0.2:
        gr["resourceNames"] = rng.sample(NAMES, rng.randint(1, 2))
    return gr


def _random_url(rng: random.Random) -> str:
    url = rng.choice(URLS)
    form = rng.random()
    if form < 0.1:
        return "*"
    if form < 0.5:
        return url[: rng.randint(1, len(url))] + "*"
    return url
