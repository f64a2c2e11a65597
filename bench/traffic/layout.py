"""Names of everything one traffic run owns, derived from its run prefix (ab-<hex>).

Namespaced objects live in the run's namespaces (ab-<hex>-<role>); cluster-scoped
objects (nodes, clusterrolebindings, namespaces the traffic creates) start with the
prefix, so teardown can find them all.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from bench.traffic.catalog import NAMESPACE_ROLES

def new_prefix() -> str:
    return "ab-" + secrets.token_hex(3)


@dataclass(frozen=True)
class Layout:
    prefix: str
    seeds: int = 4  # seed objects per kind per namespace (and seed nodes)
    # The collection the growth classes (bulk.*) read: this many configmaps of this size, in
    # a namespace of their own so a LIST returns exactly them (0: no collection).
    bulk_count: int = 0
    bulk_size_kb: float = 0.0

    def namespace(self, role: str) -> str:
        return f"{self.prefix}-{role}"

    @property
    def namespaces(self) -> list[str]:
        return [self.namespace(r) for r in NAMESPACE_ROLES]

    def seed_names(self, kind: str) -> list[str]:
        return [f"seed-{kind}-{i}" for i in range(self.seeds)]

    @property
    def seed_nodes(self) -> list[str]:
        return [f"{self.prefix}-node-seed-{i}" for i in range(self.seeds)]

    @property
    def bulk_namespace(self) -> str:
        return f"{self.prefix}-bulk"

    def bulk_name(self, i: int) -> str:
        return f"bulk-{i:06d}"

    def owned(self, name: str) -> bool:
        return name.startswith(self.prefix + "-")

    def object_name(self, kind: str, owner: str, n: int) -> str:
        """A name for an object a user creates; owner is unique per traffic user (p<proc>u<user>)."""
        return f"{self.prefix}-{kind}-{owner}-{n}"
