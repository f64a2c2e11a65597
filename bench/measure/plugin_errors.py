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
a short request the two are milliseconds apart.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from bench.webhook.stats import TimestampParser

_HEADER = re.compile(r"Error in audit plugin '([^']+)' affecting (\d+) audit events")
_EVENT = re.compile(r'^(\d{4}-\d\d-\d\dT\S+) AUDIT: id="[^"]*" stage="([^"]*)"')


def failed_in(lines: Iterable[str], span: tuple[float, float]) -> dict[str, int]:
    """Per plugin, the impacted events whose request arrived in [span)."""
    parse = TimestampParser()
    counts: Counter[str] = Counter()
    plugin: str | None = None
    for line in lines:
        header = _HEADER.search(line)
        if header:
            plugin = header.group(1)
            counts[plugin] += 0
            continue
        event = _EVENT.match(line)
        if event is None:
            if not line.startswith("Impacted events:"):
                plugin = None  # the block ended
            continue
        if plugin is not None:
            received = parse(event.group(1))
            if received is not None and span[0] <= received < span[1]:
                counts[plugin] += 1
    return dict(counts)


def failed_in_log(path: Path, span: tuple[float, float]) -> dict[str, int]:
    """:func:`failed_in` over an apiserver log file ({} if it cannot be read)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return failed_in(fh, span)
    except OSError:
        return {}
