"""Test identities of the local cluster: an admin, humans and service-account-like users.

They authenticate with static bearer tokens (--token-auth-file). Each has RBAC bindings
that fit a traffic role, so the reference article's detections (a human reading secrets,
a human binding cluster-admin, exec in production) have real actors to find.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.controlplane.pki import write_private


@dataclass(frozen=True)
class Identity:
    name: str  # short handle used by traffic profiles
    user: str  # the username the apiserver sees
    groups: tuple[str, ...]
    role: str  # what this identity does in traffic (documentation and RBAC)
    token: str = ""

    @property
    def is_service_account(self) -> bool:
        return self.user.startswith("system:serviceaccount:")


# Bindings are created by bench.controlplane.rbac; groups here are what the token file
# declares (the apiserver adds system:authenticated itself).
IDENTITIES: tuple[Identity, ...] = (
    Identity("admin", "auditbench-admin", ("system:masters",), "harness setup and cleanup"),
    Identity("alice", "alice", ("platform-admins",), "human platform admin: RBAC, namespaces, nodes"),
    Identity("bob", "bob", ("developers",), "human developer: secrets, configmaps, pods, exec"),
    Identity(
        "deploy-bot",
        "system:serviceaccount:ci:deploy-bot",
        ("system:serviceaccounts", "system:serviceaccounts:ci"),
        "CI deployer: workloads, secrets, configmaps, token requests",
    ),
    Identity("node", "system:node:worker-1", ("system:nodes",), "kubelet-like: node status, events, leases"),
    Identity(
        "controller",
        "system:serviceaccount:kube-system:auditbench-controller",
        ("system:serviceaccounts", "system:serviceaccounts:kube-system"),
        "controller-like: lists, watches, endpoints, events",
    ),
    Identity(
        "prometheus",
        "system:serviceaccount:monitoring:prometheus",
        ("system:serviceaccounts", "system:serviceaccounts:monitoring"),
        "monitoring: health probes and /metrics",
    ),
)


def with_tokens(identities: tuple[Identity, ...] = IDENTITIES) -> tuple[Identity, ...]:
    """Fresh random tokens for one cluster."""
    return tuple(
        Identity(i.name, i.user, i.groups, i.role, secrets.token_urlsafe(24)) for i in identities
    )


def token_file_text(identities: tuple[Identity, ...]) -> str:
    """--token-auth-file CSV: token,user,uid,"group1,group2"."""
    lines = []
    for i in identities:
        groups = ",".join(i.groups)
        lines.append(f'{i.token},{i.user},{i.name},"{groups}"')
    return "\n".join(lines) + "\n"


def write_token_file(path: Path, identities: tuple[Identity, ...]) -> Path:
    return write_private(path, token_file_text(identities).encode())


def write_identities_json(path: Path, identities: tuple[Identity, ...]) -> Path:
    """Tokens for the traffic process; credentials, so 0600 and never copied into results."""
    doc = {i.name: asdict(i) for i in identities}
    return write_private(path, (json.dumps(doc, indent=2) + "\n").encode())


def read_identities_json(path: Path) -> dict[str, Identity]:
    raw = json.loads(Path(path).read_text())
    return {k: Identity(v["name"], v["user"], tuple(v["groups"]), v["role"], v["token"]) for k, v in raw.items()}
