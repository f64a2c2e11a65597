"""The one-variant scenario `auditbench measure` runs, built from its flags.

Validated by the same Scenario model as a file, but a mistake is reported under the flag
the user typed (``--users``), not the scenario field it became (``traffic.users``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.controlplane.audit import AuditSettings
from bench.errors import InputError
from bench.scenario.loader import parse_scenario
from bench.scenario.model import AuditMatrix, ReceiverFaults, Scenario

_FLAGS = {
    "traffic.profiles[0]": "--profile",
    "traffic.users": "--users",
    "traffic.target_rps": "--rate",
    "traffic.duration": "--duration",
    "traffic.warmup": "--warmup",
    "traffic": "--users/--rate",
    "audit.webhook.receiver.delay_ms": "--receiver-delay-ms",
    "audit.webhook.receiver.error_rate": "--receiver-error-rate",
    "audit.webhook.receiver.down_for_s": "--receiver-down-for",
    "seed": "--seed",
}


def single_variant(settings: AuditSettings, *, profile: str, duration: str, warmup: str, users: int | None,
                   rate: float | None, receiver: dict[str, float], seed: int) -> dict[str, Any]:
    """The scenario document for one audited variant (no baseline); raises InputError naming a flag."""
    if settings.policy is None:
        raise InputError("command line", "--policy", "measure needs the audit policy to measure")
    try:
        faults = ReceiverFaults.model_validate(receiver)
    except ValueError:
        faults = None  # reported with its flag by the full validation below
    if faults is not None and faults != ReceiverFaults() and not settings.webhook.enabled:
        raise InputError("command line", "--receiver-*", "receiver faults need the webhook backend (--webhook)")
    traffic: dict[str, Any] = {"profiles": [profile], "duration": duration, "warmup": warmup,
                               "mode": "closed" if rate is None else "open"}
    if rate is not None:
        traffic["target_rps"] = rate
    if users is not None:  # 0 is a value to refuse, not "unset"
        traffic["users"] = users
    audit = AuditMatrix.of(settings, faults).model_dump(mode="json")
    if faults is None:
        audit["webhook"]["receiver"] = receiver
    doc = {"name": "measure", "description": "one variant from `auditbench measure`",
           "policies": [str(Path(settings.policy).resolve())], "baseline": False,
           "audit": audit, "traffic": traffic, "repeats": 1, "seed": seed}
    check(doc)
    return doc


def check(doc: dict[str, Any]) -> Scenario:
    try:
        return parse_scenario(doc, "command line")
    except InputError as exc:
        flag = _FLAGS.get(exc.field or "")
        if flag is None:
            raise
        raise InputError("command line", flag, exc.reason) from None
