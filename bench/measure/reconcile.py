"""Counters reconcile: every audit event the apiserver generated in the window is accounted for.

Over the /metrics bracket around the window, per backend:

    generated (apiserver_audit_event_total delta)
      = written to the log                              (log backend: lines by stageTimestamp)
      = delivered in the window + delivered after it + flushed at shutdown   (webhook, by arrival)
        + dropped (apiserver_audit_error_total{plugin="buffered"}: the buffer was full)
        + failed  (apiserver_audit_error_total{plugin="webhook"|"log"}: delivery or write errors;
                   for the webhook, the events the apiserver logs as impacted, by arrival)
        + unaccounted

The apiserver stamps an event (stageTimestamp) and counts it in the same call, so events
are matched to the counters by stageTimestamp, not by the request's start. A backend whose
unaccounted events exceed TOLERANCE of the generated ones does not reconcile, and the
variant is flagged with the numbers. The counters' read time is known only to within the
scrape's own latency (sent .. response headers, see bench.measure.server): the events the
apiserver generates in that span at each edge are added to the slack, so a short window on a
busy core is not flagged for the clock's sake, and the slack is recorded.
"""

from __future__ import annotations

from typing import Any

TOLERANCE = 0.01
# The scrapes at the edges are themselves audited: a few events may straddle each edge.
SLACK_EVENTS = 2


def allowed(generated: int, edge_events: float = 0.0) -> int:
    """Unaccounted events tolerated: TOLERANCE of the generated ones, at least SLACK_EVENTS,
    plus the events generated while the edge scrapes could have read the counters."""
    return round(max(TOLERANCE * generated, SLACK_EVENTS) + edge_events)


def _within(unaccounted: int, tol: int, near_start: int = 0, near_end: int = 0) -> bool:
    """Failed events that may have been stamped across an edge widen the band on their side."""
    return -tol - near_end <= unaccounted <= tol + near_start


def log_backend(generated: int, written: int, errors: dict[str, int], log_buffered: bool,
                edge_events: float = 0.0) -> dict[str, Any]:
    dropped = errors.get("buffered", 0) if log_buffered else 0
    failed = errors.get("log", 0)
    unaccounted = generated - written - dropped - failed
    tol = allowed(generated, edge_events)
    return {"generated": generated, "written": written, "dropped": dropped, "failed": failed,
            "unaccounted": unaccounted, "allowed": tol, "reconciles": _within(unaccounted, tol)}


def webhook_backend(generated: int, arrived: dict[str, int], errors: dict[str, int],
                    errors_after: dict[str, int], drops_are_webhook: bool, edge_events: float = 0.0,
                    failed_in_bracket: int | None = None, near_edges: dict[str, int] | None = None) -> dict[str, Any]:
    """``arrived``: events staged in the bracket, by arrival period (bench.measure.webhook).
    ``failed_in_bracket``: undelivered events counted from the apiserver's log by their
    request's arrival (bench.measure.plugin_errors); without it, the error counter's
    increase from the bracket's start to just before SIGTERM. ``near_edges``: how many of
    those could have been stamped across an edge (bench.measure.plugin_errors.Failed): they
    shift the count by up to ``start`` up or ``end`` down."""
    dropped = errors.get("buffered", 0) if drops_are_webhook else 0
    if failed_in_bracket is not None:
        failed = failed_in_bracket
    else:
        failed = errors.get("webhook", 0) + errors_after.get("webhook", 0)
    delivered = {k: arrived.get(k, 0) for k in ("in_window", "after_window", "flushed_at_shutdown")}
    unaccounted = generated - sum(delivered.values()) - arrived.get("before", 0) - dropped - failed
    tol = allowed(generated, edge_events)
    near = near_edges or {}
    out = {"generated": generated, **{f"delivered_{k}" if k != "flushed_at_shutdown" else k: v for k, v in delivered.items()},
           "dropped": dropped, "failed": failed, "unaccounted": unaccounted, "allowed": tol,
           "reconciles": _within(unaccounted, tol, near.get("start", 0), near.get("end", 0))}
    if near.get("start") or near.get("end"):
        out["failed_near_edges"] = near
    return out


def reconcile(audit: dict[str, Any] | None, audit_after: dict[str, Any] | None, log: dict[str, Any] | None,
              webhook: dict[str, Any] | None, log_mode: str | None, webhook_mode: str | None,
              edge_events: float = 0.0) -> dict[str, Any]:
    """Per-backend accounting from the measurements' sections; {} when nothing was audited.
    ``edge_events``: events generated during the edge scrapes' read spans (the clock's slack)."""
    if not audit or (not log and not webhook):
        return {}
    generated = int(audit.get("event_total") or 0)
    errors = audit.get("error_total") or {}
    errors_after = (audit_after or {}).get("error_total") or {}
    log_buffered = log_mode == "batch"
    out: dict[str, Any] = {}
    if log:
        out["log"] = log_backend(generated, int(log.get("staged_in_bracket") or 0), errors, log_buffered, edge_events)
    if webhook:
        # Both backends buffered: the "buffered" drops cannot be told apart; charged to neither.
        drops_are_webhook = webhook_mode == "batch" and not log_buffered
        out["webhook"] = webhook_backend(generated, webhook.get("staged_in_bracket") or {}, errors,
                                         errors_after, drops_are_webhook, edge_events,
                                         webhook.get("failed_in_bracket"), webhook.get("failed_near_edges"))
        if webhook_mode == "batch" and log_buffered:
            out["webhook"]["note"] = "both backends are buffered: drops cannot be attributed"
    return out


def problems(rec: dict[str, Any]) -> list[str]:
    """One line per backend that does not reconcile, with its numbers."""
    out = []
    for backend, r in rec.items():
        if not r.get("reconciles", True):
            parts = ", ".join(f"{k} {v}" for k, v in r.items() if isinstance(v, int) and not isinstance(v, bool))
            out.append(f"audit {backend} backend does not reconcile: {parts}")
    return out


def losses(rec: dict[str, Any]) -> list[str]:
    """One line per backend that lost events: dropped (its buffer was full) or failed (write
    or delivery errors). Such a variant measured a pipeline that did not carry every event,
    which its cost figures alone would not tell."""
    out = []
    for backend, r in rec.items():
        dropped, failed = r.get("dropped", 0), r.get("failed", 0)
        if dropped or failed:
            what = "not written" if backend == "log" else "not delivered"
            out.append(f"audit {backend} backend lost events: {dropped} dropped (buffer full), {failed} failed "
                       f"({what}; apiserver_audit_error_total), of {r.get('generated', 0)} generated in the window")
    return out
