"""The audit options are declared once: the same flags with the model's defaults on every
command, the same settings whichever way they arrive (flags, scenario, variant)."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer.main

from bench.audit_options import SPECS, AuditOptions
from bench.cli import build_app
from bench.controlplane.audit import AuditSettings, audit_flags
from bench.errors import InputError
from bench.measure.settings import audit_settings
from bench.paths import project_root
from bench.scenario.matrix import expand
from bench.scenario.model import AuditMatrix, LogMatrix, Scenario, Traffic, WebhookMatrix

POLICY = project_root() / "policies" / "seed-production.yaml"


def _command(path: list[str]):
    group = typer.main.get_command(build_app(path))
    cmd = group
    for name in path:
        cmd = cmd.commands[name]  # type: ignore[attr-defined]
    return cmd


@pytest.mark.parametrize("path", [["up"], ["measure"], ["kind", "config"], ["kind", "up"]], ids=" ".join)
def test_every_command_has_every_option_with_the_models_default(path: list[str]) -> None:
    params = {p.name: p for p in _command(path).params}
    for spec in SPECS:
        assert spec.name in params, spec.flag
        param = params[spec.name]
        assert spec.flag in param.opts, (spec.flag, param.opts)
        assert param.default == spec.default(), spec.flag
    assert "--policy" in params["policy"].opts


def test_defaults_are_kube_apiservers_and_the_articles() -> None:
    defaults = {s.flag: s.default() for s in SPECS}
    assert defaults == {
        "--log": True, "--log-maxage": 30, "--log-maxbackup": 10, "--log-maxsize": 100, "--log-mode": "blocking",
        "--webhook": False, "--webhook-mode": "batch", "--webhook-batch-max-wait": "30s",
        "--webhook-batch-max-size": 400, "--webhook-batch-buffer-size": 10000,
        "--webhook-batch-throttle-enable": True, "--webhook-batch-throttle-qps": 10.0,
        "--webhook-batch-throttle-burst": 15,
    }


def test_scenario_defaults_are_the_settings_defaults() -> None:
    log, hook = LogMatrix(), WebhookMatrix()
    model = AuditSettings()
    assert (log.maxage, log.maxbackup, log.maxsize, log.mode, log.format) == (
        model.log.maxage, model.log.maxbackup, model.log.maxsize, [model.log.mode], model.log.format)
    assert (hook.mode, hook.batch_max_size, hook.batch_buffer_size, hook.throttle.qps, hook.throttle.burst) == (
        [model.webhook.mode], [model.webhook.batch.max_size], [model.webhook.batch.buffer_size],
        model.webhook.batch.throttle_qps, model.webhook.batch.throttle_burst)


def _flags(settings: AuditSettings) -> list[str]:
    return audit_flags(settings, Path("a.log"), Path("wh.kubeconfig"))


@pytest.mark.parametrize("values", [
    {},
    {"log_maxsize": 5, "log_mode": "batch"},
    {"webhook": True, "batch_max_wait": "5s", "batch_max_size": 50, "throttle_qps": 2.5},
    {"log": False, "webhook": True, "webhook_mode": "blocking-strict"},
    {"webhook": True, "throttle_enable": False, "batch_buffer_size": 200},
])
def test_flags_scenario_and_variant_agree(values: dict) -> None:
    # Flags -> settings -> one-variant scenario -> variant -> settings: the apiserver gets the same flags.
    settings = AuditOptions(POLICY, values).settings()
    scenario = Scenario(name="t", policies=[str(POLICY)], baseline=False, audit=AuditMatrix.of(settings),
                        traffic=Traffic.model_validate({"users": 1, "duration": "5s"}))
    (variant,) = expand(scenario)
    assert _flags(audit_settings(variant)) == _flags(settings)


@pytest.mark.parametrize(("policy", "values", "flag", "reason"), [
    (None, {"webhook": True}, "--webhook", "without --policy"),
    (None, {"log_maxage": 1}, "--log-maxage", "without --policy"),
    (POLICY, {"log_mode": "sometimes"}, "--log-mode", "blocking"),
    (POLICY, {"batch_max_wait": "soon", "webhook": True}, "--webhook-batch-max-wait", "invalid duration"),
    (POLICY, {"throttle_qps": 0.0, "webhook": True}, "--webhook-batch-throttle-qps", "greater than 0"),
    (POLICY, {"batch_max_size": 5}, "--webhook-batch-max-size", "--webhook is not given"),
    (POLICY, {"webhook": True, "webhook_mode": "blocking", "batch_max_size": 5}, "--webhook-batch-max-size", "batch only"),
    (POLICY, {"log": False, "log_maxsize": 5}, "--log-maxsize", "--no-log"),
])
def test_a_bad_option_names_its_flag(policy: Path | None, values: dict, flag: str, reason: str) -> None:
    with pytest.raises(InputError) as exc:
        AuditOptions(policy, values).settings()
    assert (exc.value.where, exc.value.field) == ("command line", flag)
    assert reason in exc.value.reason


def test_no_policy_and_defaults_is_no_auditing() -> None:
    assert AuditOptions(None, {s.name: s.default() for s in SPECS}).settings() == AuditSettings()


def test_a_command_that_needs_a_policy_says_why() -> None:
    with pytest.raises(InputError, match="kind needs it"):
        AuditOptions(None, {}).settings(policy_needed="kind needs it")
