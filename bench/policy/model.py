"""The audit policy as the apiserver holds it after decoding (audit.k8s.io internal types).

Field names follow k8s.io/apiserver/pkg/apis/audit/v1 types.go; empty lists mean "not set",
exactly as the Go checker treats a nil or empty slice.
"""

from __future__ import annotations

from dataclasses import dataclass

LEVELS: tuple[str, ...] = ("None", "Metadata", "Request", "RequestResponse")
LEVEL_RANK: dict[str, int] = {name: i for i, name in enumerate(LEVELS)}
STAGES: tuple[str, ...] = ("RequestReceived", "ResponseStarted", "ResponseComplete", "Panic")


@dataclass(frozen=True)
class GroupResources:
    group: str = ""
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class PolicyRule:
    level: str
    users: tuple[str, ...] = ()
    user_groups: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ()
    resources: tuple[GroupResources, ...] = ()
    namespaces: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()
    omit_stages: tuple[str, ...] = ()
    # None = not set in the file; the policy-wide default then applies (checker.go isOmitManagedFields).
    omit_managed_fields: bool | None = None

    def is_catch_all(self) -> bool:
        """True when the rule sets no match field, so it matches every request."""
        return not (
            self.users
            or self.user_groups
            or self.verbs
            or self.resources
            or self.namespaces
            or self.non_resource_urls
        )

    def to_dict(self) -> dict[str, object]:
        """The rule in audit.k8s.io/v1 field names (for explain output and YAML rendering)."""
        out: dict[str, object] = {"level": self.level}
        for key, value in (
            ("users", self.users),
            ("userGroups", self.user_groups),
            ("verbs", self.verbs),
            ("namespaces", self.namespaces),
            ("nonResourceURLs", self.non_resource_urls),
            ("omitStages", self.omit_stages),
        ):
            if value:
                out[key] = list(value)
        if self.resources:
            out["resources"] = [_gr_dict(gr) for gr in self.resources]
        if self.omit_managed_fields is not None:
            out["omitManagedFields"] = self.omit_managed_fields
        return out


def _gr_dict(gr: GroupResources) -> dict[str, object]:
    out: dict[str, object] = {"group": gr.group}
    if gr.resources:
        out["resources"] = list(gr.resources)
    if gr.resource_names:
        out["resourceNames"] = list(gr.resource_names)
    return out


@dataclass(frozen=True)
class Policy:
    rules: tuple[PolicyRule, ...]
    omit_stages: tuple[str, ...] = ()
    omit_managed_fields: bool = False
    source: str = "<policy>"
    # Problems the apiserver only warns about (it falls back to lenient decoding and ignores them).
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy"}
        if self.omit_stages:
            out["omitStages"] = list(self.omit_stages)
        if self.omit_managed_fields:
            out["omitManagedFields"] = True
        out["rules"] = [rule.to_dict() for rule in self.rules]
        return out
