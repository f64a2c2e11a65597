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
                   rate: float | None, receiver: dict[str, float], seed: int, backend: str = "local",
                   kind_image: str | None = None) -> dict[str, Any]:
    """The scenario document for one audited variant (no baseline); raises InputError naming a flag."""
    if backend == "external":
        return _external_variant(settings, profile=profile, duration=duration, warmup=warmup, users=users,
                                 rate=rate, receiver=receiver, seed=seed)
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
    doc = {"name": "measure", "description": "one variant from `auditbench measure`", "backend": backend,
           "policies": [str(Path(settings.policy).resolve())], "baseline": False,
           "audit": audit, "traffic": traffic, "repeats": 1, "seed": seed}
    if kind_image is not None:
        if backend != "kind":
            raise InputError("command line", "--kind-image", "applies to --backend kind")
        doc["kind"] = {"image": kind_image}
    check(doc)
    return doc


def _traffic(profile: str, duration: str, warmup: str, users: int | None, rate: float | None) -> dict[str, Any]:
    traffic: dict[str, Any] = {"profiles": [profile], "duration": duration, "warmup": warmup,
                               "mode": "closed" if rate is None else "open"}
    if rate is not None:
        traffic["target_rps"] = rate
    if users is not None:  # 0 is a value to refuse, not "unset"
        traffic["users"] = users
    return traffic


def _external_variant(settings: AuditSettings, *, profile: str, duration: str, warmup: str, users: int | None,
                      rate: float | None, receiver: dict[str, float], seed: int) -> dict[str, Any]:
    """An external cluster's audit settings are its own: no audit option applies."""
    if settings != AuditSettings():
        flag = "--policy" if settings.policy is not None else "audit options"
        raise InputError("command line", flag, "the external backend never changes the cluster's audit settings "
                         "(it measures them as configured)")
    if any(receiver.values()):
        raise InputError("command line", "--receiver-*", "receiver faults need the harness's own webhook flags "
                         "(local or kind backend)")
    doc = {"name": "measure", "description": "one variant from `auditbench measure` (external, as configured)",
           "backend": "external", "traffic": _traffic(profile, duration, warmup, users, rate), "repeats": 1, "seed": seed}
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
