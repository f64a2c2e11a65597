"""What each request class needs from the authorizer, and which seed objects it reads (pure).

On a cluster auditbench does not own (the external backend) the traffic runs as the
kubeconfig's user, who may not be allowed everything. Each class is checked up front
(SelfSubjectAccessReview per Check) and left out when any of its checks is denied or a seed
object it reads could not be created, so the traffic never sends a request that is bound to
fail. The checks mirror what bench.traffic.actions sends:

- a delete may first create the object it deletes, so it needs create as well;
- leases.update creates and reads its own lease before it heartbeats it;
- exec/attach/portforward are ``create`` on the pods/<sub> subresource of a seed pod;
- creating a Role, or a RoleBinding to the seed Role, needs the permissions that Role grants
  (RBAC's escalation check); a ClusterRoleBinding to cluster-admin needs ``bind`` on it (a
  cluster admin has it). The checks are conservative: a user who could pass the escalation
  check another way has that class left out, never a class sent that fails.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.traffic.catalog import CLASSES

# API group per resource (as in bench.traffic.actions' paths)
GROUPS = {
    "secrets": "", "configmaps": "", "pods": "", "endpoints": "", "events": "", "nodes": "", "namespaces": "",
    "serviceaccounts": "", "roles": "rbac.authorization.k8s.io", "rolebindings": "rbac.authorization.k8s.io",
    "clusterrolebindings": "rbac.authorization.k8s.io", "clusterroles": "rbac.authorization.k8s.io",
    "leases": "coordination.k8s.io", "tokenreviews": "authentication.k8s.io",
    "subjectaccessreviews": "authorization.k8s.io",
}
_CLUSTER = {"nodes", "namespaces", "clusterrolebindings", "clusterroles", "tokenreviews", "subjectaccessreviews"}
# Seed objects (bench.traffic.fixtures) by kind: the resource that must be created for them.
SEED_RESOURCES = {"secret": "secrets", "configmap": "configmaps", "pod": "pods", "endpoints": "endpoints",
                  "role": "roles", "lease": "leases", "node": "nodes"}
_SEED_OF = {v: k for k, v in SEED_RESOURCES.items()}
# Classes that write cluster-scoped objects other than the run's own namespaces: fake Node
# objects (which every DaemonSet of a real cluster then schedules a pod onto) and a
# ClusterRoleBinding to cluster-admin. On a shared cluster they are opt-in.
CLUSTER_WRITES = frozenset({"nodes.create", "nodes.patch", "nodes.delete", "clusterrolebindings.create",
                            "clusterrolebindings.delete"})
CLUSTER_SEEDS = frozenset({"node"})


@dataclass(frozen=True, order=True)
class Check:
    """One authorization question: a resource verb (namespaced or not) or a non-resource URL."""

    verb: str
    resource: str = ""
    subresource: str = ""
    name: str = ""
    path: str = ""  # non-resource URL, e.g. /metrics

    @property
    def namespaced(self) -> bool:
        return bool(self.resource) and self.resource not in _CLUSTER

    def spec(self, namespace: str) -> dict[str, object]:
        """The SelfSubjectAccessReview spec (namespaced checks in ``namespace``)."""
        if self.path:
            return {"nonResourceAttributes": {"path": self.path, "verb": self.verb}}
        attrs: dict[str, object] = {"verb": self.verb, "group": GROUPS[self.resource], "resource": self.resource}
        if self.subresource:
            attrs["subresource"] = self.subresource
        if self.name:
            attrs["name"] = self.name
        if self.namespaced:
            attrs["namespace"] = namespace
        return {"resourceAttributes": attrs}

    def label(self) -> str:
        if self.path:
            return f"{self.verb} {self.path}"
        what = self.resource + (f"/{self.subresource}" if self.subresource else "") + (f" {self.name}" if self.name else "")
        return f"{self.verb} {what}"


_HEALTH = {"health.healthz": "/healthz", "health.readyz": "/readyz", "health.livez": "/livez"}
_CONNECT = {"exec", "attach", "portforward"}
# Classes named for what they read rather than by resource.verb: the growth collection (bulk
# configmaps, bench.traffic.layout) and the simulated kubelets (bench.traffic.kubelet).
_NAMED = {
    "bulk.list": (Check("list", "configmaps"),), "bulk.listpaged": (Check("list", "configmaps"),),
    "bulk.get": (Check("get", "configmaps"),), "bulk.watch": (Check("list", "configmaps"), Check("watch", "configmaps")),
    "bulk.update": (Check("update", "configmaps"),),
    "nodes.register": (Check("create", "nodes"),), "leases.register": (Check("create", "leases"),),
    "leases.renew": (Check("get", "leases"), Check("update", "leases")),
    "nodes.status": (Check("patch", "nodes", "status"),), "pods.listnode": (Check("list", "pods"),),
    "nodes.listself": (Check("list", "nodes"),), "pods.watchnode": (Check("watch", "pods"),),
    "nodes.watchnode": (Check("watch", "nodes"),),
}


def checks_for(cls: str) -> tuple[Check, ...]:
    """Every check a request of class ``cls`` (and any request its plan sends first) needs."""
    if cls in _HEALTH:
        return (Check("get", path=_HEALTH[cls]),)
    if cls in _NAMED:
        return tuple(sorted(_NAMED[cls]))
    resource, verb = cls.split(".", 1)
    if resource == "pods" and verb in _CONNECT:
        return (Check("create", "pods", verb),)
    if resource == "serviceaccounts" and verb == "token":
        return (Check("create", "serviceaccounts", "token"),)
    if resource == "leases" and verb == "update":
        return (Check("create", "leases"), Check("get", "leases"), Check("update", "leases"))
    out = [Check(verb, resource)]
    if verb == "delete":
        out.append(Check("create", resource))
    if resource in ("roles", "rolebindings") and verb in ("create", "delete"):  # the seed Role grants get/list configmaps
        out += [Check("get", "configmaps"), Check("list", "configmaps")]
    if cls in ("clusterrolebindings.create", "clusterrolebindings.delete"):
        out.append(Check("bind", "clusterroles", name="cluster-admin"))
    return tuple(sorted(set(out)))


def seeds_for(cls: str) -> tuple[str, ...]:
    """The seed kinds a class reads (a get, update or connect of a seed object)."""
    if cls in _HEALTH or cls in _NAMED:
        return ()  # the collection and the kubelets' own objects are created by the traffic itself
    resource, verb = cls.split(".", 1)
    if resource == "rolebindings" and verb in ("create", "delete"):
        return ("role",)  # its RoleBinding references a seed Role
    if resource == "nodes" and verb in ("get", "patch"):
        return ("node",)
    if resource == "pods" and verb in _CONNECT:
        return ("pod",)
    if verb in ("get", "update") and resource in _SEED_OF and not (resource == "leases" and verb == "update"):
        return (_SEED_OF[resource],)
    return ()


def seed_checks(kind: str) -> tuple[Check, ...]:
    resource = SEED_RESOURCES[kind]
    if kind == "role":
        return (Check("create", "roles"), Check("get", "configmaps"), Check("list", "configmaps"))
    return (Check("create", resource),)


# What the harness needs besides the traffic: the run's namespaces, and waiting for their
# default ServiceAccount (pods need it).
NAMESPACE_CHECKS = (Check("create", "namespaces"), Check("delete", "namespaces"), Check("list", "namespaces"))
SA_CHECK = Check("get", "serviceaccounts")
METRICS_CHECK = Check("get", path="/metrics")


def all_checks() -> list[Check]:
    found = set(NAMESPACE_CHECKS) | {SA_CHECK, METRICS_CHECK}
    for cls in CLASSES:
        found.update(checks_for(cls))
    for kind in SEED_RESOURCES:
        found.update(seed_checks(kind))
    return sorted(found)


@dataclass(frozen=True)
class Plan:
    """Which classes the traffic may send, which seeds it may create, and why others are out."""

    allowed: tuple[str, ...]
    left_out: dict[str, str]  # class -> reason
    seeds: tuple[str, ...]
    skipped_seeds: dict[str, str]  # seed kind -> reason


def plan(allowed_checks: dict[Check, bool], cluster_writes: bool) -> Plan:
    """Classes and seeds from the answers to :func:`all_checks` (True: allowed)."""
    def denied(checks: tuple[Check, ...]) -> list[str]:
        return [c.label() for c in checks if not allowed_checks.get(c, False)]

    seeds, skipped = [], {}
    for kind in SEED_RESOURCES:
        if kind in CLUSTER_SEEDS and not cluster_writes:
            skipped[kind] = "cluster-scoped writes are off"
            continue
        missing = denied(seed_checks(kind))
        if missing:
            skipped[kind] = "denied: " + ", ".join(missing)
        else:
            seeds.append(kind)
    ok, left = [], {}
    for cls in sorted(CLASSES):
        missing = denied(checks_for(cls))
        lost = [k for k in seeds_for(cls) if k in skipped]
        if cls in CLUSTER_WRITES and not cluster_writes:
            left[cls] = "cluster-scoped writes are off"
        elif missing:
            left[cls] = "denied: " + ", ".join(missing)
        elif lost:
            left[cls] = f"reads seed {lost[0]}s, which cannot be created ({skipped[lost[0]]})"
        else:
            ok.append(cls)
    return Plan(tuple(ok), left, tuple(seeds), skipped)
