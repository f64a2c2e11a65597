"""Synthetic audit logs for benchmarks: realistic shape, deterministic, written fast.

Events follow the field order of Go's audit.k8s.io/v1 Event (what the apiserver's
log backend writes), with a mix of levels (Metadata, Request, RequestResponse with
real-looking pod/deployment/list bodies and managedFields), stages (RequestReceived,
ResponseStarted for watch/exec, ResponseComplete), users (humans, service accounts,
system components) and resources. A few events of each kind the reference article's
detections look for are mixed in, so a benchmark of the detections finds something.

Two profiles, the two kinds of log a cluster writes:
- ``bodies`` (the default): the mix above, RequestResponse bodies included (~2.4 KB
  per event on average, list responses up to tens of KB);
- ``small``: the same requests under a policy that logs nothing above Request, so
  RequestResponse becomes Metadata: ~1 KB Metadata/Request events, the common
  production case (the reference article's policy is of this kind).

Speed: bodies are serialized once into a pool and events are assembled by string
formatting, so a 1 GB log takes seconds, not minutes.
"""

from __future__ import annotations

import json
import os
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

Profile = Literal["bodies", "small"]
PROFILES: tuple[Profile, ...] = ("bodies", "small")

_NAMESPACES = ["default", "production", "staging", "kube-system", "monitoring", "ci", "team-a", "team-b"]
_HUMANS = [
    ("alice", ["developers", "system:authenticated"]),
    ("bob", ["ops", "system:authenticated"]),
    ("carol", ["developers", "system:authenticated"]),
    ("kubernetes-admin", ["system:masters", "system:authenticated"]),
]
_SERVICE_ACCOUNTS = [
    "system:serviceaccount:ci:deploy-bot",
    "system:serviceaccount:kube-system:replicaset-controller",
    "system:serviceaccount:kube-system:deployment-controller",
    "system:serviceaccount:monitoring:prometheus",
    "system:serviceaccount:production:app",
    "system:serviceaccount:kube-system:endpointslice-controller",
]
_SYSTEM_USERS = [
    ("system:kube-controller-manager", ["system:authenticated"]),
    ("system:kube-scheduler", ["system:authenticated"]),
    ("system:apiserver", ["system:authenticated", "system:masters"]),
    ("system:node:worker-1", ["system:nodes", "system:authenticated"]),
    ("system:node:worker-2", ["system:nodes", "system:authenticated"]),
]
_AGENTS = {
    "human": "kubectl/v1.37.2 (linux/amd64) kubernetes/8c4b2f1",
    "sa": "kube-controller-manager/v1.37.2 (linux/amd64) kubernetes/8c4b2f1/system:serviceaccount",
    "system": "kube-scheduler/v1.37.2 (linux/amd64) kubernetes/8c4b2f1/leader-election",
}


def _managed_fields(manager: str) -> list[dict]:
    return [
        {
            "manager": manager,
            "operation": "Update",
            "apiVersion": "v1",
            "time": "2026-02-22T10:15:30Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {"f:labels": {".": {}, "f:app": {}, "f:pod-template-hash": {}}},
                "f:spec": {
                    "f:containers": {
                        'k:{"name":"app"}': {
                            ".": {},
                            "f:image": {},
                            "f:imagePullPolicy": {},
                            "f:name": {},
                            "f:ports": {".": {}, 'k:{"containerPort":8080,"protocol":"TCP"}': {}},
                            "f:resources": {".": {}, "f:limits": {}, "f:requests": {}},
                        }
                    },
                    "f:dnsPolicy": {},
                    "f:restartPolicy": {},
                },
            },
        }
    ]


def _pod(rng: random.Random, ns: str, i: int) -> dict:
    name = f"web-{rng.randrange(16**8):08x}-{i:05d}"
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "generateName": "web-",
            "namespace": ns,
            "uid": str(uuid.UUID(int=rng.getrandbits(128))),
            "resourceVersion": str(rng.randrange(10**6, 10**7)),
            "creationTimestamp": "2026-02-22T10:15:30Z",
            "labels": {"app": "web", "pod-template-hash": f"{rng.randrange(16**10):010x}"},
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d9f8", "uid": str(uuid.UUID(int=rng.getrandbits(128))), "controller": True, "blockOwnerDeletion": True}
            ],
            "managedFields": _managed_fields("kube-controller-manager"),
        },
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": f"registry.example.com/web:{rng.randrange(1, 40)}.{rng.randrange(0, 9)}",
                    "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                    "env": [{"name": f"FEATURE_{k}", "value": "enabled" if k % 2 else "disabled"} for k in range(rng.randrange(2, 8))],
                    "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}},
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                    "imagePullPolicy": "IfNotPresent",
                }
            ],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default",
            "nodeName": f"worker-{rng.randrange(1, 3)}",
            "schedulerName": "default-scheduler",
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            ],
        },
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": "2026-02-22T10:15:32Z"}
                for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
            ],
            "hostIP": f"10.0.0.{rng.randrange(2, 250)}",
            "podIP": f"10.244.{rng.randrange(0, 4)}.{rng.randrange(2, 250)}",
            "startTime": "2026-02-22T10:15:30Z",
            "qosClass": "Burstable",
        },
    }


def _configmap(rng: random.Random, ns: str) -> dict:
    return {
        "kind": "ConfigMap",
        "apiVersion": "v1",
        "metadata": {"name": f"settings-{rng.randrange(1000)}", "namespace": ns, "uid": str(uuid.UUID(int=rng.getrandbits(128))), "resourceVersion": str(rng.randrange(10**6, 10**7))},
        "data": {f"key{k}": "x" * rng.randrange(10, 400) for k in range(rng.randrange(1, 10))},
    }


def _crb(rng: random.Random, role: str, subject: str) -> dict:
    return {
        "kind": "ClusterRoleBinding",
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "metadata": {"name": f"{subject}-{role}-{rng.randrange(1000)}"},
        "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": subject}],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
    }


def _dumps(obj: object) -> str:
    # As Go's encoding/json writes it: compact, with HTML characters escaped.
    return json.dumps(obj, separators=(",", ":")).replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


@dataclass(frozen=True)
class _Kind:
    """One kind of request: how often, who makes it, what it touches, what it logs."""

    weight: float
    verb: str
    group: str
    version: str
    resource: str
    subresource: str = ""
    who: str = "sa"  # human | sa | system
    level: str = "Metadata"
    namespaced: bool = True
    named: bool = True
    long_running: bool = False
    non_resource: str = ""  # a non-resource URL instead of a resource
    request_body: str = ""  # pool name
    response_body: str = ""  # pool name
    code: int = 200


_KINDS: list[_Kind] = [
    _Kind(14, "get", "", "v1", "pods", who="system"),
    _Kind(8, "list", "", "v1", "pods", level="RequestResponse", named=False, response_body="podlist"),
    _Kind(6, "watch", "", "v1", "pods", named=False, long_running=True, who="system"),
    _Kind(6, "update", "", "v1", "pods", subresource="status", level="RequestResponse", who="system", request_body="pod", response_body="pod"),
    _Kind(4, "create", "", "v1", "pods", level="RequestResponse", request_body="pod", response_body="pod", code=201),
    _Kind(3, "patch", "apps", "v1", "deployments", level="Request", who="human", request_body="pod"),
    _Kind(8, "get", "", "v1", "configmaps", who="sa"),
    _Kind(3, "update", "", "v1", "configmaps", level="Request", request_body="configmap"),
    _Kind(4, "get", "", "v1", "secrets", who="sa"),
    _Kind(0.4, "get", "", "v1", "secrets", who="human"),
    _Kind(1, "list", "", "v1", "secrets", named=False, who="human"),
    _Kind(10, "update", "coordination.k8s.io", "v1", "leases", who="system", level="Metadata"),
    _Kind(6, "get", "", "v1", "nodes", who="system", namespaced=False),
    _Kind(2, "patch", "", "v1", "nodes", subresource="status", who="system", namespaced=False),
    _Kind(4, "list", "discovery.k8s.io", "v1", "endpointslices", named=False, who="sa"),
    _Kind(0.3, "create", "rbac.authorization.k8s.io", "v1", "clusterrolebindings", who="human", level="Request", namespaced=False, request_body="crb-admin", code=201),
    _Kind(0.6, "create", "rbac.authorization.k8s.io", "v1", "clusterrolebindings", who="human", level="Request", namespaced=False, request_body="crb-view", code=201),
    _Kind(0.5, "create", "", "v1", "pods", subresource="exec", who="human", level="RequestResponse", long_running=True, code=101),
    _Kind(1, "create", "authorization.k8s.io", "v1", "subjectaccessreviews", who="system", level="Request", namespaced=False, named=False, code=201),
    _Kind(2, "get", "", "", "", who="system", non_resource="/readyz", namespaced=False),
    _Kind(1, "get", "", "", "", who="human", non_resource="/api", namespaced=False),
    _Kind(0.5, "get", "", "v1", "pods", who="human", code=404),
]


class _Pools:
    """Pre-serialized bodies, chosen per event (serializing each time would dominate)."""

    def __init__(self, rng: random.Random) -> None:
        self.pod = [_dumps(_pod(rng, rng.choice(_NAMESPACES), i)) for i in range(64)]
        self.configmap = [_dumps(_configmap(rng, rng.choice(_NAMESPACES))) for _ in range(32)]
        pods = [_pod(rng, "default", i) for i in range(40)]
        self.podlist = []
        for n in (0, 1, 3, 5, 10, 20, 40):
            items = []
            for p in pods[:n]:
                p = dict(p)
                p.pop("kind")
                p.pop("apiVersion")
                items.append(p)
            self.podlist.append(_dumps({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "4711"}, "items": items}))
        self.crb_admin = [_dumps(_crb(rng, "cluster-admin", u)) for u, _ in _HUMANS]
        self.crb_view = [_dumps(_crb(rng, r, u)) for u, _ in _HUMANS for r in ("view", "edit")]

    def pick(self, rng: random.Random, name: str) -> str:
        return rng.choice(getattr(self, name.replace("-", "_")))


def _user(rng: random.Random, who: str) -> str:
    if who == "human":
        name, groups = rng.choice(_HUMANS)
        return f'{{"username":"{name}","groups":{_dumps(groups)}}}'
    if who == "system":
        name, groups = rng.choice(_SYSTEM_USERS)
        return f'{{"username":"{name}","groups":{_dumps(groups)}}}'
    name = rng.choice(_SERVICE_ACCOUNTS)
    ns = name.split(":")[2]
    uid = uuid.UUID(int=rng.getrandbits(128))
    return (
        f'{{"username":"{name}","uid":"{uid}","groups":["system:serviceaccounts","system:serviceaccounts:{ns}","system:authenticated"],'
        f'"extra":{{"authentication.kubernetes.io/credential-id":["JTI={uuid.UUID(int=rng.getrandbits(128))}"]}}}}'
    )


def _ts(t: float) -> str:
    sec = int(t)
    us = int((t - sec) * 1e6)
    h, rem = divmod(sec % 86400, 3600)
    m, s = divmod(rem, 60)
    return f"2026-02-22T{h:02d}:{m:02d}:{s:02d}.{us:06d}Z"


def _status(code: int) -> str:
    if code < 400:
        return f'{{"metadata":{{}},"code":{code}}}'
    return f'{{"metadata":{{}},"status":"Failure","message":"pods \\"missing\\" not found","reason":"NotFound","details":{{"name":"missing","kind":"pods"}},"code":{code}}}'


def _event_lines(rng: random.Random, pools: _Pools, kind: _Kind, t: float) -> list[str]:
    """The lines one request produces: RequestReceived, [ResponseStarted,] ResponseComplete."""
    audit_id = uuid.UUID(int=rng.getrandbits(128))
    ns = rng.choice(_NAMESPACES) if kind.namespaced else ""
    name = f"obj-{rng.randrange(5000)}" if kind.named else ""
    if kind.resource == "pods" and kind.subresource == "exec":
        ns = rng.choice(["production", "staging", "default"])
    if kind.non_resource:
        uri, objref = kind.non_resource, ""
    else:
        base = "/api/v1" if not kind.group else f"/apis/{kind.group}/{kind.version}"
        uri = base + (f"/namespaces/{ns}" if ns else "") + f"/{kind.resource}" + (f"/{name}" if name else "")
        if kind.subresource:
            uri += f"/{kind.subresource}"
        # "&" as Go's encoder escapes it
        if kind.subresource == "exec":
            uri += "?command=sh\\u0026container=app\\u0026stdin=true\\u0026stdout=true\\u0026tty=true"
        if kind.verb == "watch":
            uri += "?watch=true\\u0026resourceVersion=4711\\u0026timeoutSeconds=480"
        parts = [f'"resource":"{kind.resource}"']
        if ns:
            parts.append(f'"namespace":"{ns}"')
        if name:
            parts.append(f'"name":"{name}"')
        if kind.group:
            parts.append(f'"apiGroup":"{kind.group}"')
        parts.append(f'"apiVersion":"{kind.version}"')
        if kind.subresource:
            parts.append(f'"subresource":"{kind.subresource}"')
        objref = ',"objectRef":{' + ",".join(parts) + "}"
    head = (
        f'{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"{kind.level}","auditID":"{audit_id}",'
        f'"stage":"%s","requestURI":"{uri}","verb":"{kind.verb}","user":{_user(rng, kind.who)},'
        f'"sourceIPs":["10.0.1.{rng.randrange(2, 250)}"],"userAgent":"{_AGENTS[kind.who]}"{objref}'
    )
    req = ""
    if kind.request_body and kind.level in ("Request", "RequestResponse"):
        req = ',"requestObject":' + pools.pick(rng, kind.request_body)
    resp = ""
    if kind.response_body and kind.level == "RequestResponse":
        resp = ',"responseObject":' + pools.pick(rng, kind.response_body)
    received = _ts(t)
    done = _ts(t + rng.uniform(0.0005, 0.05))
    annotations = (
        ',"annotations":{"authorization.k8s.io/decision":"allow",'
        '"authorization.k8s.io/reason":"RBAC: allowed by ClusterRoleBinding \\"system:controller\\" of ClusterRole \\"edit\\""}'
    )
    # RequestReceived is emitted before the handler decodes the body: never has objects.
    lines = [head % "RequestReceived" + f',"requestReceivedTimestamp":"{received}","stageTimestamp":"{received}"}}']
    if kind.long_running:
        lines.append(
            head % "ResponseStarted" + f',"responseStatus":{_status(kind.code)}' + req
            + f',"requestReceivedTimestamp":"{received}","stageTimestamp":"{done}"{annotations}}}'
        )
    lines.append(
        head % "ResponseComplete" + f',"responseStatus":{_status(kind.code)}' + req + resp
        + f',"requestReceivedTimestamp":"{received}","stageTimestamp":"{done}"{annotations}}}'
    )
    return lines


def _kinds(profile: Profile) -> list[_Kind]:
    if profile == "bodies":
        return _KINDS
    if profile == "small":
        return [replace(k, level="Metadata") if k.level == "RequestResponse" else k for k in _KINDS]
    raise ValueError(f"unknown profile {profile!r} (profiles: {', '.join(PROFILES)})")


def iter_lines(seed: int = 1, profile: Profile = "bodies") -> Iterator[str]:
    """An endless, deterministic stream of audit log lines (without newlines)."""
    rng = random.Random(seed)
    pools = _Pools(rng)
    kinds = _kinds(profile)
    weights = [k.weight for k in kinds]
    t = 36000.0
    while True:
        for kind in rng.choices(kinds, weights, k=1024):
            t += rng.expovariate(200.0)
            yield from _event_lines(rng, pools, kind, t)


def write_log(path: str | Path, size_bytes: int, seed: int = 1, profile: Profile = "bodies") -> tuple[int, int]:
    """Write at least ``size_bytes`` of audit log lines to ``path``; returns (bytes, events)."""
    written = events = 0
    chunk: list[str] = []
    chunk_bytes = 0
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for line in iter_lines(seed, profile):
            chunk.append(line)
            chunk_bytes += len(line) + 1  # ASCII only, so chars == bytes
            events += 1
            if chunk_bytes >= 8 << 20 or written + chunk_bytes >= size_bytes:
                fh.write("\n".join(chunk) + "\n")
                written += chunk_bytes
                chunk, chunk_bytes = [], 0
                if written >= size_bytes:
                    break
        # On disk before anyone times a read: otherwise the first reader shares the
        # machine with the kernel writing back a gigabyte of dirty pages.
        fh.flush()
        os.fsync(fh.fileno())
    return written, events
