"""A simulated kubelet: the requests one node makes, at kubelet's real intervals (pure).

Each traffic user of a ``nodes`` profile is one node. What it sends (kubelet defaults,
k8s.io/kubernetes pkg/kubelet, v1.37):

- **lease renewal** every 10 s (``nodeLeaseDurationSeconds`` 40 × renew fraction 0.25):
  PUT of its Lease in kube-node-lease with the resourceVersion of the last answer —
  **protobuf body and Accept**, as client-go sends built-in types;
- **node status check** every 10 s (``nodeStatusUpdateFrequency``): GET of its Node with
  resourceVersion=0 (served from the watch cache, as the kubelet's first try is), Accept
  protobuf;
- **node status report** right after registration, then every 5 min (``nodeStatusReportFrequency``): PATCH of nodes/<name>/status with a strategic merge patch of the
  conditions' heartbeat times (client-go sends patches as JSON);
- **watches** of its own pods (fieldSelector spec.nodeName) and its own Node (fieldSelector
  metadata.name), Accept protobuf, each with timeoutSeconds drawn from [300, 600) s as a
  reflector does, re-opened when the server ends them;
- **registration** at start: POST of its Node (JSON; 409 when it exists), POST of its
  Lease (protobuf), the initial LISTs of its pods and its Node.

A node simulated from a standing start would renew every watch and report its status at
the same moment; a real fleet's kubelets run at random phases. So nodes register at random
moments of the first half of the warm-up, every node starts each periodic action at a random
phase of its period, and its first watches have a random part of their timeout left: a short
window then sees a fleet's steady state.

Not simulated: pods (none are scheduled, so no reads of their configmaps and secrets, no
pod status updates), CSINode, RuntimeClass and other informers, events, and one token per
node (all nodes authenticate as the harness's one node identity).
"""

from __future__ import annotations

import heapq
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from bench.traffic import kpb
from bench.traffic.actions import Req

LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION_S = 40
RENEW_S = 10.0  # LeaseDuration × 0.25
STATUS_CHECK_S = 10.0  # nodeStatusUpdateFrequency
STATUS_REPORT_S = 300.0  # nodeStatusReportFrequency
WATCH_TIMEOUT_S = (300.0, 600.0)  # reflector: minWatchTimeout × [1, 2)
JSON = "application/json"
SMP = "application/strategic-merge-patch+json"
PROTO_ACCEPT = f"{kpb.PROTOBUF}, {JSON}"  # client-go's Accept for protobuf clients


def _now_rfc3339() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_body(name: str) -> dict[str, Any]:
    labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
              "node.kubernetes.io/instance-type": "auditbench-sim", "app.kubernetes.io/managed-by": "auditbench"}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels},
            "spec": {"podCIDR": "10.244.0.0/24"}}


def status_patch(now: str) -> dict[str, Any]:
    """What a kubelet's status report changes when nothing else did: heartbeat times."""
    conds = [("MemoryPressure", "False", "KubeletHasSufficientMemory"),
             ("DiskPressure", "False", "KubeletHasNoDiskPressure"),
             ("PIDPressure", "False", "KubeletHasSufficientPID"),
             ("Ready", "True", "KubeletReady")]
    return {"status": {"$setElementOrder/conditions": [{"type": t} for t, _, _ in conds],
                       "conditions": [{"type": t, "status": s, "reason": r, "lastHeartbeatTime": now,
                                       "message": f"kubelet {r}"} for t, s, r in conds]}}


@dataclass(order=True)
class _Due:
    at: float
    seq: int
    action: str = field(compare=False)


class Kubelet:
    """One node's schedule. :meth:`next` returns (when, requests) of the next due action."""

    def __init__(self, name: str, holder: str, rng: random.Random, start: float | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.name, self.holder, self.rng, self.clock = name, holder, rng, clock
        self.lease_rv: str | None = None
        self._seq = 0
        t0 = clock() if start is None else start
        self._queue: list[_Due] = []
        self._push(t0, "register")

    def _push(self, at: float, action: str) -> None:
        self._seq += 1
        heapq.heappush(self._queue, _Due(at, self._seq, action))

    def identity(self, _cls: str) -> str:
        return "node"  # the harness's one node identity (system:node:worker-1)

    def next(self) -> tuple[float, list[Req]]:
        """The next due action. A late action's next period counts from now, not from when it
        was due (kubelet's loops wait a period after each run: a slow apiserver gets no catch-up
        burst, as it would from a fixed schedule)."""
        due = heapq.heappop(self._queue)
        return due.at, list(getattr(self, f"_{due.action}")(max(due.at, self.clock())))

    # --- actions ----------------------------------------------------------------------------
    def _register(self, at: float) -> list[Req]:
        reqs = [
            Req("nodes.register", "POST", "/api/v1/nodes", node_body(self.name)),
            self._lease_create(),
            Req("pods.listnode", "GET", f"/api/v1/pods?fieldSelector=spec.nodeName%3D{self.name}&limit=500",
                headers={"Accept": PROTO_ACCEPT}),
            Req("nodes.listself", "GET", f"/api/v1/nodes?fieldSelector=metadata.name%3D{self.name}&limit=500",
                headers={"Accept": PROTO_ACCEPT}),
        ]
        # Steady state from the first period on: each action at a random phase of its period,
        # each first watch with a random part of its timeout left (see the module docstring).
        self._push(at + self.rng.uniform(0, RENEW_S), "renew")
        self._push(at + self.rng.uniform(0, STATUS_CHECK_S), "check")
        self._push(at + 0.5, "report")  # a kubelet reports its status right after registering
        self._reported = False
        for kind in ("watchpods", "watchnode"):
            self._push(at, kind)
        self._first_watch = {"watchpods", "watchnode"}
        return reqs

    def _lease_path(self) -> str:
        return f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases"

    def _remember(self, status: int, body: bytes | None) -> None:
        rv = kpb.resource_version(body) if status in (200, 201) and body else None
        self.lease_rv = rv
        if rv is None and status == 409:
            self.lease_rv = None  # conflict: the next renewal GETs the lease first

    def _lease_create(self) -> Req:
        body = kpb.lease_body(self.name, LEASE_NAMESPACE, self.holder, LEASE_DURATION_S, self.clock())
        return Req("leases.register", "POST", self._lease_path(), body, content_type=kpb.PROTOBUF,
                   headers={"Accept": PROTO_ACCEPT}, wants_body=True, after=self._after_create)

    def _after_create(self, status: int, body: bytes | None) -> None:
        if status == 201:
            self._remember(status, body)
        else:
            self.lease_rv = None  # it exists (409): fetch it before the first renewal

    def _renew(self, at: float) -> list[Req]:
        self._push(at + RENEW_S, "renew")
        reqs = []
        if self.lease_rv is None:
            reqs.append(Req("leases.get", "GET", f"{self._lease_path()}/{self.name}", wants_body=True,
                            headers={"Accept": PROTO_ACCEPT}, after=self._remember))
        reqs.append(_LeaseRenewal(self))
        return reqs

    def _check(self, at: float) -> list[Req]:
        self._push(at + STATUS_CHECK_S, "check")
        return [Req("nodes.get", "GET", f"/api/v1/nodes/{self.name}?resourceVersion=0",
                    headers={"Accept": PROTO_ACCEPT})]

    def _report(self, at: float) -> list[Req]:
        # after the first report, a random phase of the 5-minute period (a fleet's steady state)
        self._push(at + (STATUS_REPORT_S if self._reported else self.rng.uniform(0, STATUS_REPORT_S)), "report")
        self._reported = True
        return [Req("nodes.status", "PATCH", f"/api/v1/nodes/{self.name}/status", status_patch(_now_rfc3339()),
                    content_type=SMP, headers={"Accept": PROTO_ACCEPT})]

    def _watch(self, at: float, kind: str, query: str, path: str) -> list[Req]:
        timeout = self.rng.uniform(*WATCH_TIMEOUT_S)
        if kind in self._first_watch:
            self._first_watch.discard(kind)
            timeout = self.rng.uniform(1.0, timeout)
        self._push(at + timeout, kind)
        q = f"?allowWatchBookmarks=true&{query}&timeoutSeconds={int(timeout)}&watch=true"
        return [Req(f"{'pods' if kind == 'watchpods' else 'nodes'}.watchnode", "GET", path + q, stream=True,
                    headers={"Accept": f"{kpb.PROTOBUF};stream=watch, {JSON}"})]

    def _watchpods(self, at: float) -> list[Req]:
        return self._watch(at, "watchpods", f"fieldSelector=spec.nodeName%3D{self.name}", "/api/v1/pods")

    def _watchnode(self, at: float) -> list[Req]:
        return self._watch(at, "watchnode", f"fieldSelector=metadata.name%3D{self.name}", "/api/v1/nodes")


class _LeaseRenewal(Req):
    """The renewal's body is built when it is sent, from the lease version the GET before it
    (if any) just returned."""

    def __init__(self, kubelet: Kubelet) -> None:
        super().__init__("leases.renew", "PUT", f"{kubelet._lease_path()}/{kubelet.name}",
                         content_type=kpb.PROTOBUF, headers={"Accept": PROTO_ACCEPT}, wants_body=True,
                         after=kubelet._remember)
        self.kubelet = kubelet

    def data(self) -> bytes | None:
        k = self.kubelet
        return kpb.lease_body(k.name, LEASE_NAMESPACE, k.holder, LEASE_DURATION_S, k.clock(), k.lease_rv or "")


def content_type_of(req: Req) -> str:
    """The body's content type as it will be sent ("" for no body)."""
    if req.body is None and not isinstance(req, _LeaseRenewal):
        return ""
    return req.content_type or JSON


def describe() -> dict[str, Any]:
    """The schedule, for results: what each simulated node sends, how often."""
    return {"lease_renew_s": RENEW_S, "status_check_s": STATUS_CHECK_S, "status_report_s": STATUS_REPORT_S,
            "watch_timeout_s": list(WATCH_TIMEOUT_S), "lease_namespace": LEASE_NAMESPACE,
            "lease_duration_s": LEASE_DURATION_S}
