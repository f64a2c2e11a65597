"""Overwrite secret material in an audit event, keeping every byte count.

A RequestResponse capture holds what secrets and configmaps contain and the tokens that
token requests issue and token reviews check. A run keeps its capture (capture.py), and
secret values never go into results, so these values are overwritten with "x" repeated to
the same JSON-encoded length: the line is exactly as long as before, what-if sizes stay
exact, and keys and structure stay for detections to read.

Redacted: data, stringData and binaryData anywhere in the bodies of secrets and configmaps
requests (objects, lists, patches), and every "token" string in the bodies of
serviceaccounts/token and tokenreviews requests.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from bench.logs.gojson import go_dumps

_DATA_KEYS = ("data", "stringData", "binaryData")
_BODIES = ("requestObject", "responseObject")


def _blank(value: str) -> str:
    # same length once encoded as Go writes JSON ("x" never needs escaping)
    return "x" * (len(go_dumps(value).encode("utf-8")) - 2)


def _blank_data(node: Any) -> Any:
    if isinstance(node, list):
        return [_blank_data(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for k, v in node.items():
        if k in _DATA_KEYS and isinstance(v, dict):
            out[k] = {dk: _blank(dv) if isinstance(dv, str) else dv for dk, dv in v.items()}
        else:
            out[k] = _blank_data(v)
    return out


def _blank_tokens(node: Any) -> Any:
    if isinstance(node, list):
        return [_blank_tokens(x) for x in node]
    if not isinstance(node, dict):
        return node
    return {k: _blank(v) if k == "token" and isinstance(v, str) else _blank_tokens(v) for k, v in node.items()}


def _kind(event: Mapping[str, Any]) -> str | None:
    ref = event.get("objectRef")
    if not isinstance(ref, Mapping):
        return None
    resource, sub = ref.get("resource"), ref.get("subresource")
    if resource in ("secrets", "configmaps") and not sub:
        return "data"
    if (resource, sub) == ("serviceaccounts", "token") or resource == "tokenreviews":
        return "token"
    return None


def redact(event: dict[str, Any]) -> dict[str, Any]:
    """The event with secret material overwritten (the same object if there is none)."""
    kind = _kind(event)
    if kind is None or not any(b in event for b in _BODIES):
        return event
    fix = _blank_data if kind == "data" else _blank_tokens
    return {k: fix(v) if k in _BODIES else v for k, v in event.items()}


_NEEDLES = (b'"secrets"', b'"configmaps"', b'"token"', b'"tokenreviews"')


def redact_line(line: bytes) -> bytes:
    """One log line (newline kept) with secret material overwritten; other lines untouched."""
    if not any(n in line for n in _NEEDLES):
        return line
    event = json.loads(line)
    clean = redact(event)
    if clean is event:
        return line
    end = b"\n" if line.endswith(b"\n") else b""
    return go_dumps(clean).encode("utf-8") + end
