"""Audit options given on a command line (`up`, `kind config`, `kind up`) to typed settings."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from bench.controlplane.audit import AuditSettings
from bench.errors import InputError


def settings_from_options(
    policy: Optional[Path], log: bool, log_maxage: int, log_maxbackup: int, log_maxsize: int, log_mode: str,
    webhook: bool, webhook_mode: str, batch_max_wait: str, batch_max_size: int, batch_buffer_size: int,
    throttle_enable: bool, throttle_qps: float, throttle_burst: int,
) -> AuditSettings:
    """CLI options to the typed settings; a bad value names the flag and exits 2."""
    from pydantic import ValidationError

    if policy is not None and not policy.is_file():
        raise InputError(policy, None, "policy file not found")
    if policy is not None:
        from bench.policy.loader import load_policy  # validates like the apiserver

        load_policy(policy)
    try:
        # Validated as one nested document so an error's location names the whole flag.
        return AuditSettings.model_validate({
            "policy": policy.resolve() if policy else None,
            "log": {"enabled": log, "maxage": log_maxage, "maxbackup": log_maxbackup, "maxsize": log_maxsize, "mode": log_mode},
            "webhook": {
                "enabled": webhook, "mode": webhook_mode,
                "batch": {"max_wait": batch_max_wait, "max_size": batch_max_size, "buffer_size": batch_buffer_size,
                          "throttle_enable": throttle_enable, "throttle_qps": throttle_qps, "throttle_burst": throttle_burst},
            },
        })
    except ValidationError as exc:
        first = exc.errors()[0]
        flag = "--" + "-".join(str(x) for x in first["loc"]).replace("_", "-")  # loc mirrors the flag names
        raise InputError("command line", flag, first["msg"]) from None
