"""Typed audit settings and their rendering to kube-apiserver flags.

Flag names and defaults follow k8s.io/apiserver v0.37.2 pkg/server/options/audit.go.
Every setting is rendered explicitly (not only non-defaults) so a result's metadata
shows exactly what the apiserver ran with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bench.durations import format_duration, parse_duration

__all__ = ["AuditSettings", "BatchSettings", "LogBackend", "TruncateSettings", "WebhookBackend",
           "audit_flags", "format_duration", "parse_duration"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BatchSettings(_Strict):
    """The batch options every backend shares (audit-<backend>-batch-*)."""

    buffer_size: int = Field(10000, gt=0)
    max_size: int = Field(400, gt=0)
    max_wait: str = "30s"
    throttle_enable: bool = True
    throttle_qps: float = Field(10.0, gt=0)
    throttle_burst: int = Field(15, gt=0)

    @field_validator("max_wait")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value


class TruncateSettings(_Strict):
    enabled: bool = False
    max_batch_size: int = Field(10 * 1024 * 1024, gt=0)
    max_event_size: int = Field(100 * 1024, gt=0)


class LogBackend(_Strict):
    """Log file backend. Defaults: the article's rotation (30 days, 10 backups, 100 MB)."""

    enabled: bool = True
    maxage: int = Field(30, ge=0)
    maxbackup: int = Field(10, ge=0)
    maxsize: int = Field(100, ge=0)
    format: Literal["json", "legacy"] = "json"
    mode: Literal["blocking", "blocking-strict", "batch"] = "blocking"
    compress: bool = False
    # Upstream's log batch defaults differ from the webhook's: max-size 1, no throttle.
    batch: BatchSettings = BatchSettings(buffer_size=10000, max_size=1, max_wait="0s", throttle_enable=False)
    truncate: TruncateSettings = TruncateSettings()


class WebhookBackend(_Strict):
    """Webhook backend; the receiver's kubeconfig path is filled in at start."""

    enabled: bool = False
    mode: Literal["batch", "blocking", "blocking-strict"] = "batch"
    batch: BatchSettings = BatchSettings()
    initial_backoff: str = "10s"
    truncate: TruncateSettings = TruncateSettings()

    @field_validator("initial_backoff")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value


class AuditSettings(_Strict):
    """Everything a scenario controls about auditing. policy=None means no auditing at all."""

    policy: Path | None = None
    log: LogBackend = LogBackend()
    webhook: WebhookBackend = WebhookBackend()

    @property
    def enabled(self) -> bool:
        return self.policy is not None and (self.log.enabled or self.webhook.enabled)


def _batch_flags(backend: str, batch: BatchSettings) -> list[str]:
    return [
        f"--audit-{backend}-batch-buffer-size={batch.buffer_size}",
        f"--audit-{backend}-batch-max-size={batch.max_size}",
        f"--audit-{backend}-batch-max-wait={format_duration(parse_duration(batch.max_wait))}",
        f"--audit-{backend}-batch-throttle-enable={str(batch.throttle_enable).lower()}",
        f"--audit-{backend}-batch-throttle-qps={batch.throttle_qps:g}",
        f"--audit-{backend}-batch-throttle-burst={batch.throttle_burst}",
    ]


def _truncate_flags(backend: str, trunc: TruncateSettings) -> list[str]:
    flags = [f"--audit-{backend}-truncate-enabled={str(trunc.enabled).lower()}"]
    if trunc.enabled:
        flags += [
            f"--audit-{backend}-truncate-max-batch-size={trunc.max_batch_size}",
            f"--audit-{backend}-truncate-max-event-size={trunc.max_event_size}",
        ]
    return flags


def audit_flags(settings: AuditSettings, log_path: Path | None, webhook_config: Path | None) -> list[str]:
    """Render kube-apiserver flags. No policy means no audit flags at all (the baseline)."""
    if settings.policy is None:
        return []
    flags = [f"--audit-policy-file={settings.policy}"]
    if settings.log.enabled:
        if log_path is None:
            raise ValueError("log backend enabled but no log path given")
        log = settings.log
        flags += [
            f"--audit-log-path={log_path}",
            f"--audit-log-maxage={log.maxage}",
            f"--audit-log-maxbackup={log.maxbackup}",
            f"--audit-log-maxsize={log.maxsize}",
            f"--audit-log-format={log.format}",
            f"--audit-log-mode={log.mode}",
            f"--audit-log-compress={str(log.compress).lower()}",
        ]
        if log.mode == "batch":
            flags += _batch_flags("log", log.batch)
        flags += _truncate_flags("log", log.truncate)
    if settings.webhook.enabled:
        if webhook_config is None:
            raise ValueError("webhook backend enabled but no webhook config file given")
        wh = settings.webhook
        flags += [
            f"--audit-webhook-config-file={webhook_config}",
            f"--audit-webhook-mode={wh.mode}",
            f"--audit-webhook-initial-backoff={format_duration(parse_duration(wh.initial_backoff))}",
        ]
        if wh.mode == "batch":
            flags += _batch_flags("webhook", wh.batch)
        flags += _truncate_flags("webhook", wh.truncate)
    return flags
