"""Audit events a backend failed to write or deliver, by when their request arrived.

apiserver_audit_error_total{plugin} counts a failed event when its batch finally fails (five
tries for the webhook), not when the event was made: a batch that fails in the window may
hold events from before it (up to batch-max-wait of them), so the counter cannot be set
against the events generated in the window. kube-apiserver logs every such event
(k8s.io/apiserver pkg/audit HandlePluginError):

    E1202 04:39:23.323639   18973 metrics.go:110] Error in audit plugin 'webhook' affecting 61 audit events: ...
    Impacted events:
    2026-12-02T04:39:21.40339827Z AUDIT: id="68d7..." stage="RequestReceived" ip="127.0.0.1" method="create" ...

so the failures can be assigned to the window as the delivered events are. The line gives the
request's arrival (requestReceivedTimestamp), not the event's stageTimestamp: for an event of
a short request the two are milliseconds apart, for one held by a blocking webhook's retries
up to seconds; the events whose request arrived that close before an edge are counted apart.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bench.webhook.stats import TimestampParser

_HEADER = re.compile(r"Error in audit plugin '([^']+)' affecting (\d+) audit events")
_EVENT = re.compile(r'^(\d{4}-\d\d-\d\dT\S+) AUDIT: id="[^"]*" stage="([^"]*)"')


@dataclass
class Failed:
    """Per plugin: impacted events whose request arrived in the span, and those whose request
    arrived within ``band`` s before its start or its end (not RequestReceived: that stage is
    stamped on arrival). Those are the uncertain ones: such an event may have been stamped
    on the other side of the edge, so the reconciliation allows for them."""

    in_span: Counter[str] = field(default_factory=Counter)
    near_start: Counter[str] = field(default_factory=Counter)
    near_end: Counter[str] = field(default_factory=Counter)


def failed_in(lines: Iterable[str], span: tuple[float, float], band: float = 0.0) -> Failed:
    parse = TimestampParser()
    out = Failed()
    plugin: str | None = None
    for line in lines:
        header = _HEADER.search(line)
        if header:
            plugin = header.group(1)
            out.in_span[plugin] += 0
            continue
        event = _EVENT.match(line)
        if event is None:
            if not line.startswith("Impacted events:"):
                plugin = None  # the block ended
            continue
        received = parse(event.group(1)) if plugin is not None else None
        if plugin is None or received is None:
            continue
        if span[0] <= received < span[1]:
            out.in_span[plugin] += 1
        if event.group(2) != "RequestReceived":
            if span[0] - band <= received < span[0]:
                out.near_start[plugin] += 1
            if span[1] - band <= received < span[1]:
                out.near_end[plugin] += 1
    return out


def failed_in_log(path: Path, span: tuple[float, float], band: float = 0.0) -> Failed:
    """:func:`failed_in` over an apiserver log file (nothing if it cannot be read)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return failed_in(fh, span, band)
    except OSError:
        return Failed()
