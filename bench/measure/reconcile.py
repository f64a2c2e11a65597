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
variant is flagged with the numbers. The counters are read somewhere inside each edge
scrape (taken at its midpoint): the events generated in half of the two scrapes' time
(``read_slack``) may fall either side. A scrape is short (~0.1 s), except where the scrape
itself waits on a blocking audit webhook that retries (1.3 s seen).
"""

from __future__ import annotations

from typing import Any

TOLERANCE = 0.01
# The scrapes at the edges are themselves audited: a few events may straddle each edge.
SLACK_EVENTS = 2


def _verdict(generated: int, unaccounted: int, read_slack: int = 0, near_start: int = 0, near_end: int = 0) -> bool:
    """Within tolerance (or the counters' read uncertainty); failed events stamped on the other
    side of an edge than their request's arrival shift the count by up to ``near_start`` up
    or ``near_end`` down."""
    allowed = max(TOLERANCE * generated, SLACK_EVENTS, read_slack)
    return -allowed - near_end <= unaccounted <= allowed + near_start


def read_slack(generated: int, bracket: dict[str, Any] | None) -> int:
    """Events generated while the edge scrapes ran, half of each (see the module docstring)."""
    if not bracket or not bracket.get("scrape_ms") or not bracket.get("end") or not bracket.get("start"):
        return 0
    span = bracket["end"] - bracket["start"]
    return round(generated / span * sum(bracket["scrape_ms"]) / 2000) if span > 0 else 0


def log_backend(generated: int, written: int, errors: dict[str, int], log_buffered: bool,
                slack: int = 0) -> dict[str, Any]:
    dropped = errors.get("buffered", 0) if log_buffered else 0
    failed = errors.get("log", 0)
    unaccounted = generated - written - dropped - failed
    return {"generated": generated, "written": written, "dropped": dropped, "failed": failed,
            "unaccounted": unaccounted, "read_slack": slack, "reconciles": _verdict(generated, unaccounted, slack)}


def webhook_backend(generated: int, arrived: dict[str, int], errors: dict[str, int],
                    errors_after: dict[str, int], drops_are_webhook: bool,
                    failed_in_bracket: int | None = None, near_edges: dict[str, int] | None = None,
                    slack: int = 0) -> dict[str, Any]:
    """``arrived``: events staged in the bracket, by arrival period (bench.measure.webhook).
    ``failed_in_bracket``: undelivered events counted from the apiserver's log by their
    request's arrival (bench.measure.plugin_errors); without it, the error counter's
    increase from the bracket's start to just before SIGTERM. ``near_edges``: how many of
    those could have been stamped across an edge (bench.measure.plugin_errors.Failed)."""
    dropped = errors.get("buffered", 0) if drops_are_webhook else 0
    if failed_in_bracket is not None:
        failed = failed_in_bracket
    else:
        failed = errors.get("webhook", 0) + errors_after.get("webhook", 0)
    delivered = {k: arrived.get(k, 0) for k in ("in_window", "after_window", "flushed_at_shutdown")}
    unaccounted = generated - sum(delivered.values()) - arrived.get("before", 0) - dropped - failed
    near = near_edges or {}
    out = {"generated": generated, **{f"delivered_{k}" if k != "flushed_at_shutdown" else k: v for k, v in delivered.items()},
           "dropped": dropped, "failed": failed, "unaccounted": unaccounted, "read_slack": slack,
           "reconciles": _verdict(generated, unaccounted, slack, near.get("start", 0), near.get("end", 0))}
    if near.get("start") or near.get("end"):
        out["failed_near_edges"] = near
    return out


def reconcile(audit: dict[str, Any] | None, audit_after: dict[str, Any] | None, log: dict[str, Any] | None,
              webhook: dict[str, Any] | None, log_mode: str | None, webhook_mode: str | None,
              bracket: dict[str, Any] | None = None) -> dict[str, Any]:
    """Per-backend accounting from the measurements' sections; {} when nothing was audited."""
    if not audit or (not log and not webhook):
        return {}
    generated = int(audit.get("event_total") or 0)
    errors = audit.get("error_total") or {}
    errors_after = (audit_after or {}).get("error_total") or {}
    log_buffered = log_mode == "batch"
    slack = read_slack(generated, bracket)
    out: dict[str, Any] = {}
    if log:
        out["log"] = log_backend(generated, int(log.get("staged_in_bracket") or 0), errors, log_buffered, slack)
    if webhook:
        # Both backends buffered: the "buffered" drops cannot be told apart; charged to neither.
        drops_are_webhook = webhook_mode == "batch" and not log_buffered
        out["webhook"] = webhook_backend(generated, webhook.get("staged_in_bracket") or {}, errors,
                                         errors_after, drops_are_webhook, webhook.get("failed_in_bracket"),
                                         webhook.get("failed_near_edges"), slack)
        if webhook_mode == "batch" and log_buffered:
            out["webhook"]["note"] = "both backends are buffered: drops cannot be attributed"
    return out


def problems(rec: dict[str, Any]) -> list[str]:
    """One line per backend that does not reconcile, with its numbers."""
    out = []
    for backend, r in rec.items():
        if not r.get("reconciles", True):
            parts = ", ".join(f"{k} {v}" for k, v in r.items() if isinstance(v, int) and not isinstance(v, bool))
            out.append(f"audit {backend} backend does not reconcile within {TOLERANCE:.0%}: {parts}")
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
