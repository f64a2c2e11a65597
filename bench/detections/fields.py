"""Event fields a detection reads: parsing, checking against the Event type, reading with jq's rules.

A field is written as a jq path without the leading dot: ``objectRef.resource``,
``requestObject.roleRef.name``, and keys that are not plain identifiers in brackets:
``annotations["authorization.k8s.io/decision"]``. Reading follows jq: a missing key or a
key of null gives null, indexing something that is not an object is an error (the event
is then not selected, as jq prints an error and goes on).

Fields are checked against audit.k8s.io/v1 Event (k8s.io/apiserver/pkg/apis/audit/v1
types.go) so a typo is an error at load time, not a detection that silently never fires.
Below requestObject, responseObject, annotations and user.extra anything goes: those
hold arbitrary objects and keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

ERROR = object()  # jq runtime error: indexing a non-object

_USER = ("username", "uid", "groups", "extra")
_STATUS = ("metadata", "status", "message", "reason", "details", "code")
# Event fields and, for the fixed structs, their own fields (None: any key below).
EVENT_FIELDS: dict[str, tuple[str, ...] | None] = {
    "kind": (), "apiVersion": (), "level": (), "auditID": (), "stage": (), "requestURI": (), "verb": (),
    "user": _USER, "impersonatedUser": _USER, "sourceIPs": (), "userAgent": (),
    "objectRef": ("resource", "namespace", "name", "uid", "apiGroup", "apiVersion", "resourceVersion", "subresource"),
    "responseStatus": _STATUS, "requestObject": None, "responseObject": None,
    "requestReceivedTimestamp": (), "stageTimestamp": (), "annotations": None,
}
_FREE_BELOW = ("user.extra", "impersonatedUser.extra", "responseStatus.metadata", "responseStatus.details")
# The level is the policy's choice, not a fact about the request: coverage re-levels events.
NOT_READABLE = {"level": "the level is what the policy chooses, not something the request did; "
                         "compare policies with `auditbench whatif` instead"}

_TOKEN = re.compile(r"""\.?([A-Za-z_][A-Za-z0-9_-]*)|\[\s*"((?:[^"\\]|\\.)*)"\s*\]|\[\s*'((?:[^'\\]|\\.)*)'\s*\]""")


@dataclass(frozen=True)
class FieldPath:
    text: str  # as written; also the column name in a SQL detection
    keys: tuple[str, ...]

    def read(self, event: Any) -> Any:
        """The value with jq's rules, or ERROR."""
        cur = event
        for key in self.keys:
            if cur is None:
                return None
            if not isinstance(cur, dict):
                return ERROR
            cur = cur.get(key)
        return cur

    @property
    def root(self) -> str:
        return self.keys[0]


def parse_field(text: str) -> FieldPath:
    """Parse and check one field; raises ValueError with the reason."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("a field must be a non-empty string such as objectRef.resource")
    src = text.strip()
    if src.startswith("."):
        src = src[1:]  # tolerate jq's leading dot
    keys: list[str] = []
    pos = 0
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if not m or (pos == 0 and src[0] == ".") or (pos > 0 and m.group(1) and src[pos] != "."):
            raise ValueError(f"cannot parse field {text!r} at {src[pos:]!r}: write a.b.c, and "
                             "[\"key\"] for keys with dots or slashes")
        key = m.group(1) or _unescape(m.group(2) if m.group(2) is not None else m.group(3))
        keys.append(key)
        pos = m.end()
    _check(text, tuple(keys))
    return FieldPath(text, tuple(keys))


def _unescape(s: str) -> str:
    return re.sub(r"\\(.)", r"\1", s)


def _check(text: str, keys: tuple[str, ...]) -> None:
    root = keys[0]
    if root not in EVENT_FIELDS:
        raise ValueError(f"{text!r}: {root!r} is not a field of an audit.k8s.io/v1 Event "
                         f"(fields: {', '.join(EVENT_FIELDS)})")
    if root in NOT_READABLE:
        raise ValueError(f"{text!r}: {NOT_READABLE[root]}")
    below = EVENT_FIELDS[root]
    if below is None or len(keys) == 1:
        return
    if not below:
        raise ValueError(f"{text!r}: {root} is a plain value, it has no field {keys[1]!r}")
    if keys[1] not in below:
        raise ValueError(f"{text!r}: {root} has no field {keys[1]!r} (fields: {', '.join(below)})")
    if len(keys) > 2 and f"{root}.{keys[1]}" not in _FREE_BELOW:
        raise ValueError(f"{text!r}: {root}.{keys[1]} is a plain value, it has no field {keys[2]!r}")
