from pathlib import Path

import pytest
from pydantic import ValidationError

from bench.controlplane.audit import (
    AuditSettings, BatchSettings, LogBackend, WebhookBackend, audit_flags, format_duration, parse_duration,
)


def _flags(settings: AuditSettings) -> dict[str, str]:
    out = {}
    for f in audit_flags(settings, Path("/run/audit.log"), Path("/run/webhook.kubeconfig")):
        key, _, value = f.partition("=")
        assert key not in out, f"flag rendered twice: {key}"
        out[key] = value
    return out


def test_no_policy_means_no_audit_flags_at_all():
    assert audit_flags(AuditSettings(), Path("/x"), Path("/y")) == []


def test_log_backend_renders_the_articles_rotation():
    flags = _flags(AuditSettings(policy=Path("/p.yaml")))
    assert flags["--audit-policy-file"] == "/p.yaml"
    assert flags["--audit-log-path"] == "/run/audit.log"
    assert (flags["--audit-log-maxage"], flags["--audit-log-maxbackup"], flags["--audit-log-maxsize"]) == ("30", "10", "100")
    assert flags["--audit-log-format"] == "json"
    assert flags["--audit-log-mode"] == "blocking"
    assert "--audit-webhook-config-file" not in flags
    # batch options only apply to a batching log backend
    assert not any(k.startswith("--audit-log-batch") for k in flags)


def test_webhook_batch_settings_all_rendered():
    settings = AuditSettings(
        policy=Path("/p.yaml"),
        log=LogBackend(enabled=False),
        webhook=WebhookBackend(enabled=True, batch=BatchSettings(max_wait="5s", max_size=100, buffer_size=2000,
                                                                  throttle_enable=False, throttle_qps=2.5, throttle_burst=3)),
    )
    flags = _flags(settings)
    assert "--audit-log-path" not in flags
    assert flags["--audit-webhook-config-file"] == "/run/webhook.kubeconfig"
    assert flags["--audit-webhook-mode"] == "batch"
    assert flags["--audit-webhook-batch-max-wait"] == "5s"
    assert flags["--audit-webhook-batch-max-size"] == "100"
    assert flags["--audit-webhook-batch-buffer-size"] == "2000"
    assert flags["--audit-webhook-batch-throttle-enable"] == "false"
    assert flags["--audit-webhook-batch-throttle-qps"] == "2.5"
    assert flags["--audit-webhook-batch-throttle-burst"] == "3"
    assert flags["--audit-webhook-initial-backoff"] == "10s"
    assert flags["--audit-webhook-truncate-enabled"] == "false"


def test_blocking_webhook_has_no_batch_flags():
    settings = AuditSettings(policy=Path("/p"), webhook=WebhookBackend(enabled=True, mode="blocking"))
    flags = _flags(settings)
    assert flags["--audit-webhook-mode"] == "blocking"
    assert not any(k.startswith("--audit-webhook-batch") for k in flags)


def test_zero_wait_renders_as_go_duration():
    settings = AuditSettings(policy=Path("/p"), webhook=WebhookBackend(enabled=True, batch=BatchSettings(max_wait="0s")))
    assert _flags(settings)["--audit-webhook-batch-max-wait"] == "0s"


@pytest.mark.parametrize("text,seconds", [("0", 0), ("0s", 0), ("500ms", 0.5), ("5s", 5), ("1m30s", 90), ("1h", 3600), ("1.5s", 1.5)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["5", "five", "-1s", "1d", ""])
def test_parse_duration_rejects(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_format_duration_round_trips():
    for s in (0, 0.25, 1, 5, 30, 90):
        assert parse_duration(format_duration(s)) == pytest.approx(s)


def test_invalid_settings_rejected():
    with pytest.raises(ValidationError):
        BatchSettings(max_size=0)
    with pytest.raises(ValidationError):
        BatchSettings(max_wait="soon")
    with pytest.raises(ValidationError):
        WebhookBackend(mode="async")
    with pytest.raises(ValidationError):
        LogBackend(unknown=1)  # type: ignore[call-arg]


def test_webhook_without_config_file_is_an_error():
    settings = AuditSettings(policy=Path("/p"), webhook=WebhookBackend(enabled=True))
    with pytest.raises(ValueError):
        audit_flags(settings, Path("/l"), None)
