"""Kubeconfig files: the admin's (0600, it holds a token) and the audit webhook's."""

from __future__ import annotations

from pathlib import Path

import yaml

from bench.controlplane.pki import write_private


def admin_kubeconfig(server: str, ca_file: Path, token: str, user: str = "auditbench-admin") -> str:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "auditbench", "cluster": {"server": server, "certificate-authority": str(ca_file)}}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "auditbench", "context": {"cluster": "auditbench", "user": user}}],
        "current-context": "auditbench",
    }
    return yaml.safe_dump(doc, sort_keys=False)


def write_admin_kubeconfig(path: Path, server: str, ca_file: Path, token: str, user: str = "auditbench-admin") -> Path:
    return write_private(path, admin_kubeconfig(server, ca_file, token, user).encode())


def webhook_kubeconfig(server_url: str, ca_file: Path) -> str:
    """Shaped like the reference article's webhook-config.yaml (cluster audit-webhook, context default)."""
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "audit-webhook", "cluster": {"server": server_url, "certificate-authority": str(ca_file)}}],
        "contexts": [{"context": {"cluster": "audit-webhook"}, "name": "default"}],
        "current-context": "default",
    }
    return yaml.safe_dump(doc, sort_keys=False)


def write_webhook_kubeconfig(path: Path, server_url: str, ca_file: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(webhook_kubeconfig(server_url, ca_file))
    return path
