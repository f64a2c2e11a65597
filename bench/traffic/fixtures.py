"""Set up and tear down what a traffic run owns, as the admin identity.

Runs in the launcher's process (plain urllib3 client, no locust): the run's namespaces,
seed objects the reads need (secrets and configmaps whose values are canaries, pods,
endpoints, roles, leases, nodes), and at the end everything named with the run prefix.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

from bench.controlplane.http import Client
from bench.errors import EnvironmentProblem
from bench.traffic import bodies
from bench.traffic.canary import CanaryFile
from bench.traffic.layout import Layout

_RBAC = "/apis/rbac.authorization.k8s.io/v1"
_COORD = "/apis/coordination.k8s.io/v1"


class SetupError(EnvironmentProblem):
    pass


def _check(resp_status: int, body: bytes, what: str, ok: tuple[int, ...] = (200, 201)) -> None:
    if resp_status not in ok:
        raise SetupError(f"traffic setup: {what} failed with HTTP {resp_status}", body[:300].decode(errors="replace"))


def wait_for_default_sa(client: Client, namespace: str, timeout_s: float = 30.0) -> float:
    """Pods need the namespace's "default" ServiceAccount, which kube-controller-manager
    creates a moment after the namespace. Returns how long it took."""
    start = time.monotonic()
    delay = 0.05
    while True:
        if client.get(f"/api/v1/namespaces/{namespace}/serviceaccounts/default").status == 200:
            return time.monotonic() - start
        if time.monotonic() - start > timeout_s:
            raise SetupError(f"no default ServiceAccount in {namespace} after {timeout_s:.0f}s",
                             "is kube-controller-manager running?")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)


@dataclass(frozen=True)
class Scope:
    """What set-up may do. The default is everything (the harness's own clusters); on a
    cluster it does not own, seeds the user may not create are left out (bench.traffic.access),
    and ``inert`` objects keep a real scheduler, kubelet or DaemonSet away from them."""

    seeds: frozenset[str] | None = None  # seed kinds to create (None: all)
    inert: bool = False  # pods no scheduler takes, nodes cordoned and tainted
    wait_sa: bool = True  # wait for each namespace's default ServiceAccount (pods need it)

    def seeding(self, kind: str) -> bool:
        return self.seeds is None or kind in self.seeds


def setup(client: Client, layout: Layout, canaries: CanaryFile, scope: Scope = Scope()) -> dict[str, Any]:
    """Create what the traffic reads; returns the growth collection's figures ({} without one)."""
    for ns in layout.namespaces:
        resp = client.post("/api/v1/namespaces", bodies.namespace(ns))
        _check(resp.status, resp.body, f"creating namespace {ns}")
    for ns in layout.namespaces:
        if scope.wait_sa:
            wait_for_default_sa(client, ns)
        _seed_namespace(client, layout, ns, canaries, scope)
    if scope.seeding("node"):
        for name in layout.seed_nodes:
            resp = client.post("/api/v1/nodes", bodies.node(name, inert=scope.inert))
            _check(resp.status, resp.body, f"creating node {name}")
    return create_collection(client, layout) if layout.bulk_count else {}


def create_collection(client: Client, layout: Layout, seed: int = 0) -> dict[str, Any]:
    """The growth collection: layout.bulk_count configmaps of layout.bulk_size_kb each, in a
    namespace of their own; then one unpaged LIST of it, whose JSON size is the x axis of the
    growth curves (measured, not computed from N × S: metadata adds to every object)."""
    ns = layout.bulk_namespace
    resp = client.post("/api/v1/namespaces", bodies.namespace(ns))
    _check(resp.status, resp.body, f"creating namespace {ns}")
    rng = random.Random(f"bulk/{seed}")
    started = time.monotonic()
    path = f"/api/v1/namespaces/{ns}/configmaps"
    for i in range(layout.bulk_count):
        name = layout.bulk_name(i)
        resp = client.post(path, bodies.bulk_configmap(name, layout.bulk_size_kb, rng))
        _check(resp.status, resp.body, f"creating configmap {ns}/{name}")
    created_s = time.monotonic() - started
    t0 = time.monotonic()
    resp = client.request("GET", path, headers={"Accept": "application/json", "Accept-Encoding": "identity"})
    _check(resp.status, resp.body, f"listing {ns}/configmaps", ok=(200,))
    items = resp.body.count(b'"name":"bulk-')  # one per item's metadata; no megabyte JSON parse
    return {"namespace": ns, "count": layout.bulk_count, "size_kb": layout.bulk_size_kb,
            "list_response_bytes": len(resp.body), "list_items": items,
            "list_seconds_at_setup": round(time.monotonic() - t0, 3), "create_seconds": round(created_s, 2)}


def _seed_namespace(client: Client, layout: Layout, ns: str, canaries: CanaryFile, scope: Scope) -> None:
    core = f"/api/v1/namespaces/{ns}"
    seeds = [
        ("secret", f"{core}/secrets", lambda n: bodies.secret(n, canaries.new(2))),
        ("configmap", f"{core}/configmaps", lambda n: bodies.configmap(n, canaries.new(2))),
        ("pod", f"{core}/pods", lambda n: bodies.pod(n, inert=scope.inert)),
        ("endpoints", f"{core}/endpoints", lambda n: bodies.endpoints(n, 0)),
        ("role", f"{_RBAC}/namespaces/{ns}/roles", bodies.role),
        ("lease", f"{_COORD}/namespaces/{ns}/leases", lambda n: bodies.lease(n, "seed")),
    ]
    for kind, path, make in seeds:
        if not scope.seeding(kind):
            continue
        for name in layout.seed_names(kind):
            resp = client.post(path, make(name))
            _check(resp.status, resp.body, f"creating {kind} {ns}/{name}")


@dataclass
class Teardown:
    deleted: dict[str, list[str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def _owned(client: Client, path: str, layout: Layout) -> list[str]:
    resp = client.get(path)
    if resp.status != 200:
        return []
    return [item["metadata"]["name"] for item in resp.json().get("items", [])
            if layout.owned(item["metadata"]["name"])]


def teardown(client: Client, layout: Layout) -> Teardown:
    """Delete every cluster-scoped object with the run prefix; namespace deletion removes the rest.

    Namespaces are deleted asynchronously (kube-controller-manager finishes the job); see
    wait_namespaces_gone.
    """
    result = Teardown()
    for kind, path in (("clusterrolebindings", f"{_RBAC}/clusterrolebindings"), ("nodes", "/api/v1/nodes"),
                       ("leases", f"{_COORD}/namespaces/kube-node-lease/leases"),  # simulated kubelets'
                       ("namespaces", "/api/v1/namespaces")):
        names = _owned(client, path, layout)
        result.deleted[kind] = names
        for name in names:
            status = client.request("DELETE", f"{path}/{name}").status
            if status not in (200, 202, 404, 409):
                result.errors.append(f"DELETE {kind}/{name}: HTTP {status}")
    return result


def remaining_namespaces(client: Client, layout: Layout) -> dict[str, str]:
    """Namespaces of the run still present, with their phase (Active/Terminating)."""
    resp = client.get("/api/v1/namespaces")
    if resp.status != 200:
        return {}
    return {i["metadata"]["name"]: i.get("status", {}).get("phase", "")
            for i in resp.json().get("items", []) if layout.owned(i["metadata"]["name"])}


def wait_namespaces_gone(client: Client, layout: Layout, timeout_s: float = 60.0) -> dict[str, str]:
    """Poll until the run's namespaces are gone (bounded); returns those still left."""
    deadline = time.monotonic() + timeout_s
    left = remaining_namespaces(client, layout)
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = remaining_namespaces(client, layout)
    return left
