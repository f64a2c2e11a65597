"""Measurement "growth": what reading the run's collection cost, request kind by request kind.

The objects profile reads a collection of N configmaps of S KB (bench.traffic.fixtures
.create_collection) with unpaged LISTs, paged LISTs, GETs, WATCHes and a few updates. For
each of those kinds this gives, over the window: the client's requests and latency (successful
requests), the response bytes the client got, and the audit events and bytes those requests
wrote to the log, so audit bytes per request come by kind, not averaged over a mix where a
GET and a 60 MB LIST weigh the same. The collection's own figures (its unpaged LIST's JSON
size, measured at set-up) are the x axis of the growth curves; memory comes from the
"series" (heap) and "process" (RSS) measurements of the same window.

Audit events are matched to a kind by verb and URI (a LIST with ``limit=`` is a page of a
paged LIST), on the collection's namespace only, from the traffic's user agent, received
in the window.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pandas as pd

from bench.agents import TRAFFIC, origin
from bench.logs import reader
from bench.logs.heads import Head
from bench.measure.base import BaseMeasurement, Context, Window, register
from bench.traffic import samples
from bench.traffic.catalog import BULK_CLASSES
from bench.webhook.stats import TimestampParser

_DECODE = msgspec.json.Decoder(Head)
_VERB_KIND = {"get": "bulk.get", "watch": "bulk.watch", "update": "bulk.update"}


def kind_of(verb: str, uri: str) -> str | None:
    """The bulk.* class an audit event of the collection belongs to (pure)."""
    if verb == "list":
        return "bulk.listpaged" if "limit=" in uri else "bulk.list"
    return _VERB_KIND.get(verb)


def audit_by_kind(heads: Iterable[tuple[Head, int]], namespace: str, window: Window) -> dict[str, dict[str, int]]:
    """{kind: {events, bytes}} of the traffic's events on the collection, received in the window."""
    marker = f"/namespaces/{namespace}/configmaps"
    parse = TimestampParser()
    events: Counter[str] = Counter()
    nbytes: Counter[str] = Counter()
    for head, size in heads:
        if marker not in head.requestURI or origin(head.userAgent) != TRAFFIC:
            continue
        received = parse(head.requestReceivedTimestamp) if head.requestReceivedTimestamp else None
        if received is None or not window.contains(received):
            continue
        kind = kind_of(head.verb, head.requestURI)
        if kind is not None:
            events[kind] += 1
            nbytes[kind] += size
    return {k: {"events": events[k], "bytes": nbytes[k]} for k in sorted(events)}


def log_heads(files: list[Path]) -> Iterator[tuple[Head, int]]:
    for source in reader.expand(files) if files else []:
        for _n, line in reader.iter_lines(source):
            try:
                yield _DECODE.decode(line), len(line) + 1
            except msgspec.DecodeError:
                continue  # a torn last line; the audit_log measurement reports bad files


def client_by_kind(df: pd.DataFrame, window: Window) -> dict[str, dict[str, Any]]:
    """Requests, failures, latency of the successful ones and response bytes per bulk.* class."""
    inside = df[(df["t"] >= window.start) & (df["t"] < window.end) & (df["cls"].isin(BULK_CLASSES))]
    out: dict[str, dict[str, Any]] = {}
    for cls, g in inside.groupby("cls", sort=True):
        ok = g[g["ok"] == 1]
        lat = samples.latency_summary(ok["ms"]).as_dict()
        out[str(cls)] = {
            "requests": int(len(g)), "failures": int(len(g) - len(ok)),
            "p50_ms": _num(lat["p50_ms"]), "p99_ms": _num(lat["p99_ms"]), "mean_ms": _num(lat["mean_ms"]),
            "response_bytes_mean": float(ok["bytes"].mean()) if len(ok) else None,
        }
    return out


def _num(x: float) -> float | None:
    return None if x is None or math.isnan(x) else round(float(x), 3)


def growth_figures(collection: dict[str, Any], client: dict[str, dict[str, Any]],
                   audit: dict[str, dict[str, int]] | None) -> dict[str, Any]:
    """The growth section (pure): per kind, client figures plus audit bytes per request."""
    kinds: dict[str, dict[str, Any]] = {}
    for kind in sorted(set(client) | set(audit or {})):
        c = dict(client.get(kind) or {"requests": 0, "failures": 0})
        if audit is not None:
            a = audit.get(kind, {"events": 0, "bytes": 0})
            n = c.get("requests") or 0
            c.update(audit_events=a["events"], audit_bytes=a["bytes"],
                     audit_bytes_per_request=(a["bytes"] / n) if n else None,
                     audit_events_per_request=(a["events"] / n) if n else None)
        kinds[kind] = c
    return {"collection": collection, "by_kind": kinds, "audit_source": "log" if audit is not None else None}


DAY_S = 86400.0


def audit_by_class(heads: Iterable[tuple[Head, int]], window: Window) -> dict[str, dict[str, int]]:
    """{"verb resource": {events, bytes}} of the traffic's events received in the window."""
    from bench.logs.heads import resource_key

    parse = TimestampParser()
    events: Counter[str] = Counter()
    nbytes: Counter[str] = Counter()
    for head, size in heads:
        if origin(head.userAgent) != TRAFFIC:
            continue
        received = parse(head.requestReceivedTimestamp) if head.requestReceivedTimestamp else None
        if received is None or not window.contains(received):
            continue
        key = f"{head.verb} {resource_key(head)}"
        events[key] += 1
        nbytes[key] += size
    return {k: {"events": events[k], "bytes": nbytes[k]} for k in sorted(events)}


def fleet_figures(nodes: int, window_s: float, counts: dict[str, int], content_types: dict[str, dict[str, int]],
                  audit: dict[str, dict[str, int]] | None) -> dict[str, Any]:
    """Per node and day, from the window's steady state (pure): requests, audit events, bytes."""
    from bench.traffic.kubelet import describe

    scale = DAY_S / window_s / nodes if window_s > 0 and nodes else 0.0
    out: dict[str, Any] = {"count": nodes, "schedule": describe(), "window_s": round(window_s, 3),
                           "requests_by_class": counts, "content_types": content_types,
                           "requests_per_node_per_day": round(sum(counts.values()) * scale, 1)}
    if audit is not None:
        events, nbytes = sum(a["events"] for a in audit.values()), sum(a["bytes"] for a in audit.values())
        out.update(audit_by_class=audit, audit_events=events, audit_bytes=nbytes,
                   audit_events_per_node_per_day=round(events * scale, 1),
                   audit_bytes_per_node_per_day=round(nbytes * scale, 1),
                   audit_bytes_per_node_per_day_by_class={k: round(a["bytes"] * scale, 1) for k, a in audit.items()})
    return out


@register
class Growth(BaseMeasurement):
    name = "growth"

    def collect(self, ctx: Context) -> dict[str, Any]:
        t = ctx.traffic
        if t is not None and getattr(t, "nodes", 0):
            return {"nodes": self._fleet(ctx)}
        collection = getattr(t, "collection", None) if t is not None else None
        if not collection:
            return {}
        assert ctx.window is not None
        df = samples.read_samples([t.samples_path])
        live = ctx.cluster.audit_log_path
        audit = None
        if live is not None:
            audit = audit_by_kind(log_heads(reader.log_files(live)), collection["namespace"], ctx.window)
        return growth_figures(collection, client_by_kind(df, ctx.window), audit)

    def _fleet(self, ctx: Context) -> dict[str, Any]:
        t, w = ctx.traffic, ctx.window
        assert w is not None
        df = samples.read_samples([t.samples_path])
        inside = df[(df["t"] >= w.start) & (df["t"] < w.end)]
        counts = {str(k): int(v) for k, v in inside["cls"].value_counts().sort_index().items()}
        live = ctx.cluster.audit_log_path
        audit = audit_by_class(log_heads(reader.log_files(live)), w) if live is not None else None
        return fleet_figures(t.nodes, w.duration_s, counts, t.content_types, audit)
