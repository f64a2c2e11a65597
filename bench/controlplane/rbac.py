"""RBAC for the test identities, applied once the apiserver is ready."""

from __future__ import annotations

from typing import Any

_ALL = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]


def _role(name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": name}, "rules": rules}


def _binding(name: str, role: str, subjects: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": who} for kind, who in subjects],
    }


def manifests() -> list[dict[str, Any]]:
    """ClusterRoles and bindings that fit each identity's traffic role (see identities.py)."""
    developer = _role("auditbench:developer", [
        {"apiGroups": [""], "verbs": _ALL, "resources": [
            "secrets", "configmaps", "pods", "pods/exec", "pods/attach", "pods/portforward", "pods/log",
            "serviceaccounts", "serviceaccounts/token", "events", "endpoints", "services"]},
        {"apiGroups": ["apps"], "verbs": _ALL, "resources": ["deployments", "replicasets"]},
        {"apiGroups": [""], "verbs": ["get", "list", "watch", "create", "delete"], "resources": ["namespaces"]},
        {"apiGroups": ["rbac.authorization.k8s.io"], "verbs": _ALL, "resources": ["roles", "rolebindings"]},
        {"apiGroups": ["authentication.k8s.io"], "verbs": ["create"], "resources": ["tokenreviews"]},
        {"apiGroups": ["authorization.k8s.io"], "verbs": ["create"], "resources": ["subjectaccessreviews"]},
    ])
    node = _role("auditbench:node", [
        {"apiGroups": [""], "verbs": _ALL, "resources": ["nodes", "nodes/status"]},
        {"apiGroups": [""], "verbs": ["create", "patch", "update"], "resources": ["events"]},
        {"apiGroups": ["events.k8s.io"], "verbs": ["create", "patch", "update"], "resources": ["events"]},
        {"apiGroups": [""], "verbs": ["get", "list", "watch"], "resources": ["pods", "configmaps", "secrets", "services", "endpoints"]},
        {"apiGroups": ["coordination.k8s.io"], "verbs": _ALL, "resources": ["leases"]},
    ])
    controller = _role("auditbench:controller", [
        {"apiGroups": ["*"], "verbs": ["get", "list", "watch"], "resources": ["*"]},
        {"apiGroups": [""], "verbs": _ALL, "resources": ["endpoints", "events", "configmaps"]},
        {"apiGroups": ["events.k8s.io"], "verbs": _ALL, "resources": ["events"]},
        {"apiGroups": ["coordination.k8s.io"], "verbs": _ALL, "resources": ["leases"]},
    ])
    return [
        developer, node, controller,
        _binding("auditbench:platform-admins", "cluster-admin", [("Group", "platform-admins")]),
        _binding("auditbench:developers", "auditbench:developer", [
            ("Group", "developers"), ("User", "system:serviceaccount:ci:deploy-bot")]),
        _binding("auditbench:nodes", "auditbench:node", [("User", "system:node:worker-1")]),
        _binding("auditbench:controllers", "auditbench:controller", [
            ("User", "system:serviceaccount:kube-system:auditbench-controller")]),
        # Only needed when kube-controller-manager runs without
        # --use-service-account-credentials (its namespace controller then acts as
        # system:kube-controller-manager, which cannot deletecollection, and deleted namespaces
        # stay Terminating). Redundant now that the local backend passes that flag; kept until a
        # test run confirms namespace deletion without it.
        _binding("auditbench:kcm-namespace-controller", "system:controller:namespace-controller", [
            ("User", "system:kube-controller-manager")]),
        # Like an aggregated apiserver or kube-rbac-proxy: token and access reviews.
        _binding("auditbench:controller-auth-delegator", "system:auth-delegator", [
            ("User", "system:serviceaccount:kube-system:auditbench-controller")]),
        _binding("auditbench:monitoring", "system:monitoring", [
            ("User", "system:serviceaccount:monitoring:prometheus")]),
        _binding("auditbench:monitoring-view", "view", [
            ("User", "system:serviceaccount:monitoring:prometheus")]),
    ]


def path_for(obj: dict[str, Any]) -> str:
    """Collection URL for a cluster-scoped RBAC object."""
    plural = {"ClusterRole": "clusterroles", "ClusterRoleBinding": "clusterrolebindings"}[obj["kind"]]
    return f"/apis/rbac.authorization.k8s.io/v1/{plural}"
