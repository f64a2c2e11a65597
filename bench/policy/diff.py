"""Compare two policies over the request corpus: which request classes change level or stages."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable

from bench.policy.checker import compile_policy, stages_for
from bench.policy.corpus import corpus
from bench.policy.model import Policy
from bench.policy.request import RequestAttributes, is_long_running


@dataclass(frozen=True)
class DiffRow:
    request_class: str
    level_a: str
    stages_a: tuple[str, ...]
    rule_a: int | None
    level_b: str
    stages_b: tuple[str, ...]
    rule_b: int | None
    users: tuple[str, ...]
    requests: int

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def request_class(attrs: RequestAttributes) -> str:
    """Users aside, what a policy can tell apart: verb, group/resource/subresource, name, namespace."""
    if not attrs.is_resource_request:
        return f"{attrs.verb.upper()} {attrs.path}"
    what = attrs.resource + (f"/{attrs.subresource}" if attrs.subresource else "")
    if attrs.api_group:
        what = f"{attrs.api_group}/{what}"
    name = f" {attrs.name}" if attrs.name else ""
    if attrs.resource == "namespaces":
        return f"{attrs.verb} {what}{name}"
    where = f" in {attrs.namespace}" if attrs.namespace else " (cluster)"
    return f"{attrs.verb} {what}{name}{where}"


def diff(a: Policy, b: Policy, requests: Iterable[RequestAttributes] | None = None) -> list[DiffRow]:
    ca, cb = compile_policy(a), compile_policy(b)
    groups: dict[tuple, list[str]] = {}
    for attrs in corpus() if requests is None else requests:
        da, db = ca.evaluate(attrs), cb.evaluate(attrs)
        lr = is_long_running(attrs)
        sa = tuple(stages_for(da, lr, attrs.authenticated))
        sb = tuple(stages_for(db, lr, attrs.authenticated))
        if da.level == db.level and sa == sb:
            continue
        key = (request_class(attrs), da.level, sa, da.rule_index, db.level, sb, db.rule_index)
        groups.setdefault(key, []).append(attrs.user)
    return [
        DiffRow(k[0], k[1], k[2], k[3], k[4], k[5], k[6], tuple(dict.fromkeys(users)), len(users))
        for k, users in sorted(groups.items(), key=lambda kv: kv[0][0])
    ]
