"""Serialize a parsed audit event the way kube-apiserver's log backend writes it.

The log backend encodes an audit.k8s.io/v1 Event with apimachinery's JSON serializer,
which is Go's encoding/json Encoder (k8s.io/apimachinery runtime/serializer/json
doEncode: ``json.NewEncoder(w).Encode(obj)``): compact, one line plus "\\n", HTML
escaping on (``<``, ``>``, ``&`` become ``\\u003c``, ``\\u003e``, ``\\u0026``; U+2028 and
U+2029 are escaped too), non-ASCII written as UTF-8. Request and response objects
are runtime.Unknown whose raw JSON encoding/json compacts with the same escaping.

Field order: a parsed event keeps the order of the line it came from, which for a
line the apiserver wrote is Go's struct order, so re-serializing it (after deleting
fields) keeps that order. Numbers keep their text except floats outside Python's
plain range (e.g. 1e-05 vs Go's 1e-05 is the same, 0.00001 is not): rare in
Kubernetes objects, whose quantities are strings.
"""

from __future__ import annotations

import json
from typing import Any

_ESCAPES = (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029"))


def go_dumps(obj: Any) -> str:
    """Compact JSON as Go's encoding/json writes it (HTML-escaped), without the newline."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    # These characters only occur inside strings in JSON text, so a plain replace is exact.
    for raw, esc in _ESCAPES:
        if raw in text:
            text = text.replace(raw, esc)
    return text


def go_line_bytes(obj: Any) -> int:
    """Bytes of the log line the apiserver writes for ``obj``, newline included."""
    return len(go_dumps(obj).encode("utf-8")) + 1
