"""Measurement "audit_log": the log backend's volume in the window, by who caused it.

Events are assigned to the window by requestReceivedTimestamp (the request started in it,
as the client samples are). The per-request figures count only the traffic's events
(user agent bench.agents.TRAFFIC_AGENT); the harness's own (readiness probes, /metrics
scrapes, set-up) and the control plane's background (controller manager, the apiserver's
loopback client) are counted apart by user. Every file counts, rotated backups included.
For the reconciliation, all events whose stageTimestamp (when the apiserver processed
them) falls in the /metrics bracket are counted too.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench.agents import BACKGROUND, HARNESS, TRAFFIC
from bench.logs import reader
from bench.logs.heads import Row, log_rows
from bench.measure.base import BaseMeasurement, Context, Window, register


class Tally:
    """Events and bytes, with breakdowns, of one group of rows."""

    def __init__(self) -> None:
        self.events = 0
        self.bytes = 0
        self.by_level: Counter[str] = Counter()
        self.bytes_by_level: Counter[str] = Counter()
        self.by_stage: Counter[str] = Counter()
        self.by_resource: Counter[str] = Counter()
        self.bytes_by_resource: Counter[str] = Counter()
        self.by_verb: Counter[str] = Counter()
        self.by_user: Counter[str] = Counter()

    def add(self, row: Row) -> None:
        self.events += 1
        self.bytes += row.nbytes
        self.by_level[row.level] += 1
        self.bytes_by_level[row.level] += row.nbytes
        self.by_stage[row.stage] += 1
        self.by_resource[row.resource] += 1
        self.bytes_by_resource[row.resource] += row.nbytes
        self.by_verb[row.verb] += 1
        self.by_user[row.username] += 1

    def brief(self) -> dict[str, Any]:
        return {"events": self.events, "bytes": self.bytes, "by_user": dict(self.by_user.most_common())}


def tally_rows(rows: Iterable[Row], window: Window, bracket: tuple[float, float] | None) -> dict[str, Any]:
    """Pure: rows -> {in_window: {origin: Tally}, before, after, staged_in_bracket, undated}."""
    inside = {TRAFFIC: Tally(), HARNESS: Tally(), BACKGROUND: Tally()}
    before, after, undated, staged = Tally(), Tally(), 0, 0
    for row in rows:
        if bracket is not None and bracket[0] <= row.staged < bracket[1]:
            staged += 1
        if math.isnan(row.received):
            undated += 1
        elif row.received < window.start:
            before.add(row)
        elif row.received >= window.end:
            after.add(row)
        else:
            inside[row.origin].add(row)
    return {"in_window": inside, "before": before, "after": after, "staged_in_bracket": staged, "undated": undated}


def log_figures(tallies: dict[str, Any], requests: int) -> dict[str, Any]:
    t: Tally = tallies["in_window"][TRAFFIC]
    per = (lambda x: x / requests) if requests else (lambda x: None)
    return {
        "enabled": True,
        "bytes": t.bytes,
        "events": t.events,
        "by_level": dict(t.by_level),
        "by_stage": dict(t.by_stage),
        "by_resource": dict(t.by_resource.most_common()),
        "by_verb": dict(t.by_verb),
        "bytes_by_level": dict(t.bytes_by_level),
        "bytes_by_resource": dict(t.bytes_by_resource.most_common()),
        "bytes_per_request": per(t.bytes),
        "events_per_request": per(t.events),
        "origin": {
            "traffic": {"events": t.events, "bytes": t.bytes},
            "harness": tallies["in_window"][HARNESS].brief(),
            "background": tallies["in_window"][BACKGROUND].brief(),
        },
        "outside_window": {
            "before": {"events": tallies["before"].events, "bytes": tallies["before"].bytes},
            "after": {"events": tallies["after"].events, "bytes": tallies["after"].bytes},
            "undated": tallies["undated"],
        },
        "staged_in_bracket": tallies["staged_in_bracket"],
    }


def rule_costs(files: list[Path], policy_path: Path | None) -> list[dict[str, Any]]:
    """Events and bytes per policy rule over the whole log: which rule makes the log big."""
    if policy_path is None or not files:
        return []
    from bench.logs.attribution import attribute_sources
    from bench.policy.loader import load_policy

    result = attribute_sources(reader.expand(files), load_policy(policy_path))
    rows = [r.to_json() for r in result.rules if r.events]
    return sorted(rows, key=lambda r: -r["bytes"])


@register
class AuditLog(BaseMeasurement):
    name = "audit_log"
    needs = "audit_log"

    def collect(self, ctx: Context) -> dict[str, Any]:
        live = ctx.cluster.audit_log_path
        if live is None:
            return {}
        assert ctx.window is not None
        files = reader.log_files(live)
        damaged: list[str] = []  # writes the apiserver failed part way (it counts them as errors)
        tallies = tally_rows(log_rows(files, damaged), ctx.window, ctx.bracket)
        requests = ctx.requests_in_window or 0
        doc = log_figures(tallies, requests)
        doc["files"] = len(files)
        doc["bytes_on_disk"] = sum(p.stat().st_size for p in files)
        doc["damaged_lines"] = len(damaged)
        doc["by_rule"] = rule_costs(files, ctx.variant.policy_path) if not damaged else []
        return doc
