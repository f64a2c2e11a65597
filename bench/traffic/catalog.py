"""The request classes the traffic can send, with who sends them by default.

Pure data (no locust import): profiles are validated against it in the orchestrator's
process, and the locustfile builds requests from it. Names are ``resource.verb`` and are
Locust's request names, the ``cls`` column of the samples, and keys of the summaries.
"""

from __future__ import annotations

from dataclasses import dataclass

# Namespace roles: the traffic owns one namespace per role, ab-<run>-<role>.
NAMESPACE_ROLES: tuple[str, ...] = ("production", "team-a", "team-b", "system")
# Identities from bench.controlplane.identities plus "anonymous" (no bearer token).
ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class RequestClass:
    name: str
    identity: str  # default actor (a name from bench.controlplane.identities)
    namespaces: tuple[str, ...] = ()  # default namespace roles; () = cluster-scoped
    long_running: bool = False  # watches: the sample is the time until the stream is open
    also_ok: tuple[int, ...] = ()  # non-2xx statuses that are the expected answer here
    scheduled: bool = False  # sent by the node simulator on kubelet's schedule, never picked by weight

    @property
    def cluster_scoped(self) -> bool:
        return not self.namespaces


_ANY = NAMESPACE_ROLES[:3]
# Without a kubelet the apiserver answers exec/attach/portforward on an unscheduled pod
# with 400 "pod ... does not have a host assigned" after the audit filter has seen it.
_NO_HOST = (400,)

CLASSES: dict[str, RequestClass] = {c.name: c for c in (
    # secrets and configmaps: every value is a canary
    RequestClass("secrets.create", "deploy-bot", _ANY),
    RequestClass("secrets.get", "bob", _ANY),
    RequestClass("secrets.list", "bob", _ANY),
    RequestClass("secrets.update", "deploy-bot", _ANY),
    RequestClass("secrets.delete", "deploy-bot", _ANY),
    RequestClass("secrets.watch", "controller", _ANY, long_running=True),
    RequestClass("configmaps.create", "deploy-bot", _ANY),
    RequestClass("configmaps.get", "controller", _ANY),
    RequestClass("configmaps.list", "controller", _ANY),
    RequestClass("configmaps.update", "deploy-bot", _ANY),
    RequestClass("configmaps.delete", "deploy-bot", _ANY),
    RequestClass("configmaps.watch", "controller", _ANY, long_running=True),
    # RBAC
    RequestClass("roles.create", "alice", _ANY),
    RequestClass("roles.list", "alice", _ANY),
    RequestClass("roles.delete", "alice", _ANY),
    RequestClass("rolebindings.create", "alice", _ANY),
    RequestClass("rolebindings.list", "alice", _ANY),
    RequestClass("rolebindings.delete", "alice", _ANY),
    RequestClass("clusterrolebindings.create", "alice"),  # binds a user to cluster-admin
    RequestClass("clusterrolebindings.list", "alice"),
    RequestClass("clusterrolebindings.delete", "alice"),
    # pods and their connect subresources
    RequestClass("pods.create", "deploy-bot", _ANY),
    RequestClass("pods.get", "controller", _ANY),
    RequestClass("pods.list", "controller", _ANY),
    RequestClass("pods.delete", "deploy-bot", _ANY),
    RequestClass("pods.watch", "controller", _ANY, long_running=True),
    RequestClass("pods.exec", "bob", ("production",), also_ok=_NO_HOST),
    RequestClass("pods.attach", "bob", ("production",), also_ok=_NO_HOST),
    RequestClass("pods.portforward", "bob", ("production",), also_ok=_NO_HOST),
    # credentials and access reviews
    RequestClass("serviceaccounts.token", "deploy-bot", _ANY),
    RequestClass("tokenreviews.create", "controller"),
    RequestClass("subjectaccessreviews.create", "controller"),
    # namespaces and nodes (cluster-scoped)
    RequestClass("namespaces.create", "alice"),
    RequestClass("namespaces.delete", "alice"),
    RequestClass("namespaces.get", "controller"),
    RequestClass("namespaces.list", "controller"),
    RequestClass("nodes.create", "node"),
    RequestClass("nodes.patch", "node"),
    RequestClass("nodes.delete", "alice"),
    RequestClass("nodes.get", "controller"),
    RequestClass("nodes.list", "controller"),
    # the noisy resources
    RequestClass("events.create", "node", _ANY),
    RequestClass("events.list", "controller", _ANY),
    RequestClass("endpoints.get", "controller", _ANY),
    RequestClass("endpoints.list", "controller", _ANY),
    RequestClass("endpoints.update", "controller", _ANY),
    RequestClass("endpoints.watch", "controller", _ANY, long_running=True),
    RequestClass("leases.create", "node", ("system",)),
    RequestClass("leases.get", "node", ("system",)),
    RequestClass("leases.update", "node", ("system",)),
    # growth: the run's collection of N configmaps of S KB (bench.traffic.layout bulk_*),
    # read the ways clients read big collections. "bulk" is not a namespace role: these
    # classes always target the collection's own namespace.
    RequestClass("bulk.list", "controller", ("bulk",)),  # one unpaged LIST: the whole collection
    RequestClass("bulk.listpaged", "controller", ("bulk",)),  # limit=500 pages until no continue token
    RequestClass("bulk.get", "controller", ("bulk",)),
    # from the resourceVersion of the user's last paged LIST, as an informer does; 410 Gone
    # (that version left the watch cache) is the server's expected answer, the next watch re-lists
    RequestClass("bulk.watch", "controller", ("bulk",), long_running=True, also_ok=(410,)),
    RequestClass("bulk.update", "deploy-bot", ("bulk",)),  # a full object of S KB, so watches see events
    # simulated kubelets (bench.traffic.kubelet), on kubelet's own schedule
    RequestClass("nodes.register", "node", scheduled=True, also_ok=(409,)),
    RequestClass("leases.register", "node", scheduled=True, also_ok=(409,)),
    RequestClass("leases.renew", "node", scheduled=True, also_ok=(409,)),  # 409: someone else renewed it
    RequestClass("nodes.status", "node", scheduled=True),
    RequestClass("pods.listnode", "node", scheduled=True),
    RequestClass("nodes.listself", "node", scheduled=True),
    RequestClass("pods.watchnode", "node", scheduled=True, long_running=True),
    RequestClass("nodes.watchnode", "node", scheduled=True, long_running=True),
    # health probes (non-resource URLs)
    RequestClass("health.healthz", "prometheus"),
    RequestClass("health.readyz", "prometheus"),
    RequestClass("health.livez", "prometheus"),
)}


BULK_CLASSES = frozenset(n for n in CLASSES if n.startswith("bulk."))
SCHEDULED_CLASSES = frozenset(n for n, c in CLASSES.items() if c.scheduled)


def identity_names() -> tuple[str, ...]:
    from bench.controlplane.identities import IDENTITIES

    return tuple(i.name for i in IDENTITIES) + (ANONYMOUS,)


def long_running_classes() -> frozenset[str]:
    return frozenset(n for n, c in CLASSES.items() if c.long_running)


_CONNECT = ("exec", "attach", "portforward", "proxy", "log")


def slo_classes() -> frozenset[str]:
    """Classes under ClusterLoader2's 1 s latency SLO: mutations and single-object reads
    (no lists, no watches, no long-running connect subresources)."""
    return frozenset(n for n, c in CLASSES.items()
                     if not c.long_running and not n.endswith(".list") and not any(f".{x}" in n for x in _CONNECT))
