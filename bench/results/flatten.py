"""A VariantResult as one flat row of named figures (bench.results.store.METRIC_COLUMNS)."""

from __future__ import annotations

from typing import Any

from bench.results.schema import MEASURED, VariantResult


def _div(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def _first(*values: float | None) -> float | None:
    return next((v for v in values if v is not None), None)


def _descriptors(r: VariantResult) -> dict[str, Any]:
    log = r.variant.audit.get("log") or {}
    wh = r.variant.audit.get("webhook") or {}
    return {
        "run_id": r.run_id, "variant_id": r.variant_id, "repeat": r.repeat, "status": r.status,
        "error": r.error, "policy": r.variant.policy, "profile": r.variant.profile,
        "is_baseline": r.variant.is_baseline,
        "mode": r.variant.load.mode, "target_rps": r.variant.load.target_rps,
        "rate_fraction": r.variant.load.rate_fraction,
        "objects_count": r.variant.load.objects_count, "object_size_kb": r.variant.load.object_size_kb,
        "kubernetes": r.variant.kubernetes, "nodes": r.variant.load.nodes,  # the scenario's release axis only (None: the pinned release)
        "log_enabled": bool(log.get("enabled")), "log_mode": log.get("mode"),
        "log_maxsize": log.get("maxsize"), "log_maxbackup": log.get("maxbackup"), "log_maxage": log.get("maxage"),
        "webhook_enabled": bool(wh.get("enabled")), "webhook_mode": wh.get("mode"),
        "webhook_batch_max_wait_s": wh.get("batch_max_wait_s"), "webhook_batch_max_size": wh.get("batch_max_size"),
        "webhook_batch_buffer_size": wh.get("batch_buffer_size"),
        "webhook_throttle_enable": wh.get("throttle_enable"), "webhook_throttle_qps": wh.get("throttle_qps"),
        "started_at": r.metadata.started_at, "samples_file": r.samples_file,
        "flags": "; ".join(r.flags),
    }


def _latency(r: VariantResult) -> dict[str, Any]:
    out: dict[str, Any] = {}
    c = r.latency_client.overall if r.latency_client else None
    for k in ("mean", "p50", "p90", "p99", "p999", "max"):
        out[f"client_{k}_ms"] = getattr(c, f"{k}_ms") if c else None
    s = r.latency_server
    for k in ("p50", "p90", "p99"):
        out[f"server_{k}_ms"] = getattr(s.all, f"{k}_ms") if s and s.all else None
    out["server_mutating_p99_ms"] = s.mutating.p99_ms if s and s.mutating else None
    out["server_readonly_p99_ms"] = s.readonly.p99_ms if s and s.readonly else None
    out["server_sli_p99_ms"] = s.sli_all.p99_ms if s and s.sli_all else None
    return out


def _costs(r: VariantResult) -> dict[str, Any]:
    t, a, e = r.traffic, r.apiserver, r.etcd
    return {
        "requests": t.requests if t else None,
        "failures": t.failures if t else None,
        "error_rate": _first(t.error_rate, _div(t.failures, t.requests)) if t else None,
        "achieved_rps": t.achieved_rps if t else None,
        "loadgen_cpu_util": t.loadgen_cpu_util if t else None,
        "cpu_seconds": a.cpu_seconds if a else None,
        "cpu_ms_per_1k": a.cpu_ms_per_1k_requests if a else None,
        "rss_peak_bytes": a.rss_peak_bytes if a else None,
        "alloc_bytes_per_1k": a.alloc_bytes_per_1k_requests if a else None,
        "heap_inuse_peak_bytes": a.heap_inuse_peak_bytes if a else None,
        "capacity_rps": (r.capacity or {}).get("capacity_rps"),
        "window_s": r.window.duration_s if r.window else None,
        "bracket_coverage": r.metrics_bracket.coverage if r.metrics_bracket else None,
        "etcd_cpu_seconds": e.cpu_seconds if e else None,
        "etcd_rss_peak_bytes": e.rss_peak_bytes if e else None,
    }


def _audit(r: VariantResult) -> dict[str, Any]:
    au, t = r.audit, r.traffic
    requests = t.requests if t else None
    duration = t.duration_s if t else None
    m = au.metrics if au else None
    log = au.log if au and au.log and au.log.enabled else None
    wh = au.webhook if au and au.webhook and au.webhook.enabled else None
    out: dict[str, Any] = {
        "audit_events_total": m.event_total if m else None,
        "audit_errors": sum(m.error_total.values()) if m else None,
        # plugin="buffered" counts events the buffered backend dropped (buffer full)
        "drops": m.error_total.get("buffered", 0) if m else None,
        "requests_rejected": m.requests_rejected_total if m else None,
        "log_bytes": log.bytes if log else None,
        "log_events": log.events if log else None,
        "log_files": log.files if log else None,
        "webhook_batches": wh.batches if wh else None,
        "webhook_events": wh.events if wh else None,
        "webhook_bytes": wh.bytes if wh else None,
        # In the window, by arrival (schema 2); the shutdown flush is apart (webhook_flushed_events).
        "webhook_batches_per_s": _first(wh.batches_per_s, _div(wh.batches, duration)) if wh else None,
        "webhook_delivery_eps": _first(wh.events_per_s, _div(wh.events, wh.delivery_span_s or duration)) if wh else None,
        # the median batch in the window (schema 1 documents: the whole-life mean)
        "webhook_events_per_batch": _first(wh.events_per_batch.p50 if wh.periods else None, wh.events_per_batch.mean) if wh else None,
        "webhook_events_per_batch_p90": wh.events_per_batch.p90 if wh else None,
        "webhook_flushed_events": wh.flushed_at_shutdown.get("events") if wh and wh.periods else None,
        "webhook_lag_p50_ms": wh.lag_ms.p50 if wh else None,
        "webhook_lag_p99_ms": wh.lag_ms.p99 if wh else None,
        "webhook_http_errors": wh.http_errors if wh else None,
        "canary_leaks": len(au.canaries.leaked) if au else None,
        "unreconciled_backends": sum(1 for v in au.reconciliation.values() if not v.get("reconciles", True)) if au else None,
    }
    out.update(_volume(r, log, wh, requests))
    if log:
        out.update({f"log_bytes.{k}": v for k, v in log.bytes_by_level.items()})
        out.update({f"log_resource_bytes.{k}": v for k, v in log.bytes_by_resource.items()})
        out.update({f"log_events.{k}": v for k, v in log.by_level.items()})
    return out


def _lost_webhook_generated(r: VariantResult) -> float | None:
    """Events the apiserver generated for the webhook over the bracket, when it lost some."""
    rec = r.audit.reconciliation.get("webhook") if r.audit else None
    if not rec or not rec.get("generated") or not (rec.get("dropped", 0) or rec.get("failed", 0)):
        return None
    return float(rec["generated"])


def _volume(r: VariantResult, log: Any, wh: Any, requests: int | None) -> dict[str, Any]:
    """Bytes and events per request: the log file when there is one, else what the
    webhook received (or, when it lost events, what the apiserver generated for it); the
    no-audit baseline writes nothing, which is a real 0."""
    if log is not None:
        bpr = log.bytes_per_request if log.bytes_per_request is not None else _div(log.bytes, requests)
        epr = log.events_per_request if log.events_per_request is not None else _div(log.events, requests)
    elif wh is not None:
        bpr, epr = _div(wh.bytes, requests), _div(wh.events, requests)
        generated = _lost_webhook_generated(r)
        if generated is not None:
            # Events were dropped or failed: what arrived in the window (at batch-max-wait 0s,
            # events generated long before it) says nothing of what the policy produced. Use
            # the events the apiserver generated in the bracket, at the mean size of every
            # event that arrived (the shutdown flush included).
            sizes = [p for p in wh.periods.values() if p.get("events")]
            mean = _div(sum(p.get("bytes", 0) for p in sizes), sum(p["events"] for p in sizes))
            epr = _div(generated, requests)
            bpr = mean * epr if mean is not None and epr is not None else None
    elif r.variant.is_baseline and r.status == "ok":
        bpr, epr = 0.0, 0.0
    else:
        bpr = epr = None
    return {"bytes_per_request": bpr, "events_per_request": epr}


# What a failed or timed-out variant's row keeps: counts that explain it (bench.measure.failure).
# Its other figures (latency, CPU, rates, per-request volumes) are left empty here too, since
# derived ones (bytes / requests) would otherwise be recomputed from the counts.
_NOT_MEASURED_KEEP = frozenset({
    "requests", "failures", "error_rate", "window_s", "bracket_coverage", "audit_events_total",
    "audit_errors", "drops", "requests_rejected", "log_events", "log_files", "webhook_batches",
    "webhook_events", "webhook_http_errors", "webhook_flushed_events", "canary_leaks", "unreconciled_backends",
})


def flatten(r: VariantResult) -> dict[str, Any]:
    row = {**_descriptors(r), **_latency(r), **_costs(r), **_audit(r)}
    if r.status not in MEASURED:
        descriptors = _descriptors(r)
        row = {k: (v if k in descriptors or k in _NOT_MEASURED_KEEP else None) for k, v in row.items()}
    return row
