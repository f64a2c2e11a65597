"""ClusterLoader2 PerfData export, so existing perf dashboards (perfdash) can read us.

Shape (perf-tests clusterloader2/pkg/measurement/util/perftype.go):
{"version": "v1", "dataItems": [{"data": {"Perc50": ..., "Perc90": ..., "Perc99": ...},
 "unit": "ms", "labels": {...}}]}
One item per variant × repeat × latency series (client overall, client per class, server).
"""

from __future__ import annotations

from typing import Any

from bench.results.schema import MEASURED, VariantResult


def _item(p50: float | None, p90: float | None, p99: float | None, labels: dict[str, str]) -> dict[str, Any] | None:
    if p50 is None and p90 is None and p99 is None:
        return None
    data = {k: v for k, v in (("Perc50", p50), ("Perc90", p90), ("Perc99", p99)) if v is not None}
    return {"data": data, "unit": "ms", "labels": labels}


def perfdata(results: list[VariantResult]) -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    for r in results:
        if r.status not in MEASURED:
            continue
        base = {"RunID": r.run_id, "Variant": r.variant_id, "Repeat": str(r.repeat), "Policy": r.variant.policy,
                "Profile": r.variant.profile}
        if r.latency_client:
            o = r.latency_client.overall
            items.append(_item(o.p50_ms, o.p90_ms, o.p99_ms, {**base, "Metric": "ClientLatency", "Class": "all"}))
            for cls, s in sorted(r.latency_client.by_class.items()):
                items.append(_item(s.p50_ms, s.p90_ms, s.p99_ms, {**base, "Metric": "ClientLatency", "Class": cls}))
        if r.latency_server:
            for scope in ("all", "mutating", "readonly", "sli_all"):
                s = getattr(r.latency_server, scope)
                if s:
                    items.append(_item(s.p50_ms, s.p90_ms, s.p99_ms, {**base, "Metric": "APIServerLatency", "Scope": scope}))
    return {"version": "v1", "dataItems": [i for i in items if i is not None]}
