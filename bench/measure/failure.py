"""What a failed variant's result says: the reason in words, the evidence, and no figures.

A variant fails when its control plane died or its requests failed beyond the bound
(bench.measure.variant.judge). Its figures then describe another experiment than the one the
variant names: a dead apiserver answers nothing and costs nothing, so the survivors'
latency, CPU or bytes per request, and rates over the window would read as "auditing is
free and fast". They are withheld (None, as the schema says of a failed variant). What
explains the failure stays: request and failure counts by code, how each component exited,
the apiserver's audit counters, what each audit backend delivered, dropped or failed, the
reconciliation, the window and the /metrics time series.
"""

from __future__ import annotations

import signal
from typing import Any

# Per section, the fields a failed variant keeps (counts and evidence); the rest are withheld.
_KEEP = {
    "apiserver": ("exit", "requests_by_verb_code"),
    "etcd": ("exit",),
}
_WITHHELD_TRAFFIC = ("achieved_rps",)
_WITHHELD_LOG = ("bytes_per_request", "events_per_request")
_WITHHELD_WEBHOOK = ("batches_per_s", "events_per_s")


def how_it_ended(name: str, exit_record: dict[str, Any] | None) -> str:
    """``kube-apiserver (killed by SIGKILL)``, ``etcd (exit code 2)``: a component that died
    by itself, as its exit record tells (the harness had sent it nothing)."""
    rc = (exit_record or {}).get("returncode")
    if rc is None or (exit_record or {}).get("signal_sent"):
        return name
    if rc < 0:
        try:
            return f"{name} (killed by {signal.Signals(-rc).name})"
        except ValueError:
            return f"{name} (killed by signal {-rc})"
    return f"{name} (exit code {rc})"


def describe_codes(errors_by_code: dict[str, int]) -> str:
    """``{"0": 234, "500": 1}`` as "234 without a response, 1 HTTP 500", most first."""
    def one(code: str, n: int) -> str:
        if code == "0":
            return f"{n} without a response (refused, reset or timed out)"
        if code == "unfinished":
            return f"{n} unanswered when the traffic stopped"
        return f"{n} HTTP {code}"

    return ", ".join(one(c, n) for c, n in sorted(errors_by_code.items(), key=lambda kv: -kv[1]))


def withhold(doc: dict[str, Any]) -> None:
    """Strip a failed variant's figures in place (see the module docstring)."""
    doc["latency_client"] = None
    doc["latency_server"] = None
    for section, keep in _KEEP.items():
        if doc.get(section):
            doc[section] = {k: v for k, v in doc[section].items() if k in keep}
    _blank(doc.get("traffic"), _WITHHELD_TRAFFIC)
    audit = doc.get("audit") or {}
    _blank(audit.get("log"), _WITHHELD_LOG)
    _blank(audit.get("webhook"), _WITHHELD_WEBHOOK)


def _blank(section: dict[str, Any] | None, keys: tuple[str, ...]) -> None:
    if section:
        for k in keys:
            section[k] = None
