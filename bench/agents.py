"""User agents that tell the apiserver's audit events apart by who caused them.

The traffic under test (Locust) and the harness itself (readiness probes, set-up and
tear-down, /metrics scrapes) each send their own user agent; everything else in an audit
log of the local backend is the control plane's own background (the controller manager,
the apiserver's loopback client).
"""

from __future__ import annotations

TRAFFIC_AGENT = "auditbench-traffic/1 (locust)"
HARNESS_AGENT = "auditbench-harness/1"

TRAFFIC, HARNESS, BACKGROUND = "traffic", "harness", "background"


def origin(user_agent: str | None) -> str:
    """"traffic", "harness" or "background" for an event's userAgent."""
    if user_agent:
        if user_agent.startswith("auditbench-traffic/"):
            return TRAFFIC
        if user_agent.startswith("auditbench-harness/"):
            return HARNESS
    return BACKGROUND
