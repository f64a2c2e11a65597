"""Request bodies, shaped as kubectl and the controllers would send them (pure)."""

from __future__ import annotations

import base64
import random
from datetime import datetime, timezone
from typing import Any

LABELS = {"app.kubernetes.io/managed-by": "auditbench"}


def _meta(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "labels": dict(LABELS), **extra}


def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(name)}


def secret(name: str, values: list[str]) -> dict[str, Any]:
    # stringData: the values travel as plain text in the request, so a policy that logs
    # secrets at Request level exposes exactly the canary string.
    return {"apiVersion": "v1", "kind": "Secret", "metadata": _meta(name), "type": "Opaque",
            "stringData": {f"key{i}": v for i, v in enumerate(values)}}


def configmap(name: str, values: list[str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(name),
            "data": {f"key{i}": v for i, v in enumerate(values)}}


# A scheduler no cluster runs: on a cluster with kube-scheduler (kind, external) an inert pod
# stays Pending, as it does on the local backend, which runs no scheduler at all.
NO_SCHEDULER = "auditbench-no-scheduler"
# Cordoned and tainted: nothing is scheduled onto a fake node (DaemonSets that tolerate every
# taint still create pods for it: background work a real cluster does for the traffic).
INERT_TAINT = {"key": "auditbench.io/fake-node", "value": "true", "effect": "NoExecute"}


def filler(size_bytes: int, rng: random.Random) -> str:
    """Random base64 text of exactly ``size_bytes`` characters: incompressible, as real
    config blobs often are, so response compression cannot hide a collection's size."""
    raw = rng.randbytes(size_bytes * 3 // 4 + 3)
    return base64.b64encode(raw).decode()[:size_bytes]


def bulk_configmap(name: str, size_kb: float, rng: random.Random) -> dict[str, Any]:
    # No canary: a bulk value is filler, not a secret, so RequestResponse of the collection is
    # not a leak; the canary check stays about the values that must never be logged.
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": _meta(name, labels={**LABELS, "auditbench/collection": "bulk"}),
            "data": {"payload": filler(round(size_kb * 1024), rng)}}


def pod(name: str, inert: bool = False) -> dict[str, Any]:
    # No nodeName and no scheduler: the pod stays Pending and deletes immediately.
    spec: dict[str, Any] = {"containers": [{"name": "app", "image": "registry.invalid/auditbench/pause:3.10",
                                            "ports": [{"containerPort": 8080}]}]}
    if inert:
        spec["schedulerName"] = NO_SCHEDULER
    return {"apiVersion": "v1", "kind": "Pod", "metadata": _meta(name, labels={**LABELS, "app": "web"}), "spec": spec}


def endpoints(name: str, generation: int) -> dict[str, Any]:
    ips = [f"10.{(generation >> 8) & 255}.{generation & 255}.{i + 1}" for i in range(3)]
    return {"apiVersion": "v1", "kind": "Endpoints", "metadata": _meta(name),
            "subsets": [{"addresses": [{"ip": ip} for ip in ips], "ports": [{"name": "http", "port": 8080}]}]}


def role(name: str) -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": _meta(name),
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]}


def rolebinding(name: str, role_name: str, user: str) -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": _meta(name),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role_name},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]}


def cluster_admin_binding(name: str, user: str) -> dict[str, Any]:
    """What the reference article's detection looks for: someone bound to cluster-admin."""
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": _meta(name),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]}


def node(name: str, inert: bool = False) -> dict[str, Any]:
    doc: dict[str, Any] = {"apiVersion": "v1", "kind": "Node",
                           "metadata": _meta(name, labels={**LABELS, "kubernetes.io/hostname": name})}
    if inert:
        doc["spec"] = {"unschedulable": True, "taints": [dict(INERT_TAINT)]}
    return doc


def node_label_patch(generation: int) -> dict[str, Any]:
    return {"metadata": {"labels": {"auditbench/heartbeat": str(generation)}}}


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _now_micro() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event(name: str, namespace_name: str, pod_name: str) -> dict[str, Any]:
    now = _now()
    return {"apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": namespace_name},
            "involvedObject": {"apiVersion": "v1", "kind": "Pod", "namespace": namespace_name, "name": pod_name},
            "reason": "Pulling", "message": f"Pulling image for {pod_name}", "type": "Normal",
            "source": {"component": "kubelet", "host": "worker-1"},
            "firstTimestamp": now, "lastTimestamp": now, "count": 1}


def lease(name: str, holder: str, resource_version: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if resource_version:
        meta["resourceVersion"] = resource_version
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta,
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": 40, "renewTime": _now_micro()}}


def token_request(expiration_s: int = 600) -> dict[str, Any]:
    return {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"expirationSeconds": expiration_s}}


def token_review(fake_token: str) -> dict[str, Any]:
    # Never a real credential: the reference policy logs tokenreviews at Request level.
    return {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": fake_token}}


def subject_access_review(user: str, groups: list[str], namespace_name: str) -> dict[str, Any]:
    return {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": user, "groups": groups,
                     "resourceAttributes": {"namespace": namespace_name, "verb": "get", "resource": "secrets"}}}
