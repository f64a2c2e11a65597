"""A scenario variant's audit part, as the typed settings the local backend renders to flags."""

from __future__ import annotations

from bench.controlplane.audit import AuditSettings, BatchSettings, LogBackend, WebhookBackend, format_duration
from bench.scenario.matrix import Variant


def audit_settings(variant: Variant) -> AuditSettings:
    """No policy path (the baseline) means no audit flags at all."""
    if variant.policy_path is None:
        return AuditSettings()
    log = variant.log
    if log is None:
        log_backend = LogBackend(enabled=False)
    else:
        batch = LogBackend().batch
        if log.mode == "batch":
            batch = BatchSettings(
                buffer_size=log.batch_buffer_size or batch.buffer_size,
                max_size=log.batch_max_size or batch.max_size,
                max_wait=format_duration(log.batch_max_wait_s) if log.batch_max_wait_s is not None else batch.max_wait,
                throttle_enable=False,
            )
        log_backend = LogBackend(
            enabled=True, maxage=log.maxage, maxbackup=log.maxbackup, maxsize=log.maxsize,
            format=log.format, mode=log.mode, compress=log.compress, batch=batch,
        )
    wh = variant.webhook
    if wh is None:
        webhook = WebhookBackend(enabled=False)
    else:
        default = BatchSettings()
        batch = BatchSettings(
            buffer_size=wh.batch_buffer_size or default.buffer_size,
            max_size=wh.batch_max_size or default.max_size,
            max_wait=format_duration(wh.batch_max_wait_s) if wh.batch_max_wait_s is not None else default.max_wait,
            throttle_enable=default.throttle_enable if wh.throttle_enable is None else wh.throttle_enable,
            throttle_qps=wh.throttle_qps or default.throttle_qps,
            throttle_burst=wh.throttle_burst or default.throttle_burst,
        )
        webhook = WebhookBackend(
            enabled=True, mode=wh.mode, batch=batch,
            initial_backoff=format_duration(wh.initial_backoff_s) if wh.initial_backoff_s is not None else "10s",
        )
    return AuditSettings(policy=variant.policy_path.resolve(), log=log_backend, webhook=webhook)
