"""Go-style durations ("500ms", "5s", "1m30s"), as kube-apiserver flags take them."""

from __future__ import annotations

import re

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_MAX_SECONDS = (2**63 - 1) / 1e9  # time.Duration is an int64 of nanoseconds
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


def parse_duration(text: str) -> float:
    """Seconds in a Go duration string; raises ValueError on anything else.

    Like time.ParseDuration: a sequence of number+unit parts, "0" alone allowed,
    no sign (negative durations make no sense for any option here).
    """
    s = text.strip()
    if s == "0":
        return 0.0
    if not s:
        raise ValueError("empty duration")
    pos, total = 0, 0.0
    for m in _PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(s):
        raise ValueError(f"invalid duration {_show(text)} (expected e.g. 500ms, 5s, 1m30s)")
    if total > _MAX_SECONDS:  # also catches digits that overflow to inf
        raise ValueError(f"duration {_show(text)} is longer than Go's maximum (about 292 years)")
    return total


def _show(text: str) -> str:
    return repr(text) if len(text) <= 40 else repr(text[:37] + "...")


def format_duration(seconds: float) -> str:
    """Shortest Go-style text for ``seconds`` ("0s", "500ms", "5s", "1m30s")."""
    if seconds == 0:
        return "0s"
    if seconds < 1:
        ms = seconds * 1000
        return f"{ms:g}ms"
    whole = int(seconds)
    if whole != seconds:
        return f"{seconds:g}s"
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    out = (f"{h}h" if h else "") + (f"{m}m" if m else "") + (f"{s}s" if s else "")
    return out
