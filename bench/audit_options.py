"""The audit options of `up`, `measure`, `kind config` and `kind up`, declared once.

Each option is one field of AuditSettings (bench/controlplane/audit.py), and its default
is read from that model, so a flag, its default and the setting it feeds are defined in
one place. ``audit_options`` adds the options to a typer command and hands the command
one ``AuditOptions`` value instead of fourteen parameters.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Optional, TypeVar

import typer

from bench.controlplane.audit import AuditSettings
from bench.errors import InputError

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class OptionSpec:
    name: str  # the Python parameter
    decls: tuple[str, ...]  # click declarations, e.g. ("--log/--no-log",)
    path: tuple[str, ...]  # the AuditSettings field it sets
    type: type
    help: str | None = None

    @property
    def flag(self) -> str:
        return self.decls[0].split("/")[0]

    def default(self) -> Any:
        value: Any = AuditSettings()
        for part in self.path:
            value = getattr(value, part)
        return value


# Flag names are kept as they have always been; the paths say which setting each sets.
SPECS: tuple[OptionSpec, ...] = (
    OptionSpec("log", ("--log/--no-log",), ("log", "enabled"), bool, "Log file backend."),
    OptionSpec("log_maxage", ("--log-maxage",), ("log", "maxage"), int, "Days to keep rotated audit logs."),
    OptionSpec("log_maxbackup", ("--log-maxbackup",), ("log", "maxbackup"), int, "Rotated audit logs to keep."),
    OptionSpec("log_maxsize", ("--log-maxsize",), ("log", "maxsize"), int, "MB before rotation."),
    OptionSpec("log_mode", ("--log-mode",), ("log", "mode"), str, "blocking, blocking-strict or batch."),
    OptionSpec("webhook", ("--webhook/--no-webhook",), ("webhook", "enabled"), bool,
               "Webhook backend with a local receiver."),
    OptionSpec("webhook_mode", ("--webhook-mode",), ("webhook", "mode"), str, "batch, blocking or blocking-strict."),
    OptionSpec("batch_max_wait", ("--webhook-batch-max-wait",), ("webhook", "batch", "max_wait"), str,
               "Go duration, e.g. 5s."),
    OptionSpec("batch_max_size", ("--webhook-batch-max-size",), ("webhook", "batch", "max_size"), int),
    OptionSpec("batch_buffer_size", ("--webhook-batch-buffer-size",), ("webhook", "batch", "buffer_size"), int),
    OptionSpec("throttle_enable", ("--webhook-batch-throttle-enable/--no-webhook-batch-throttle",),
               ("webhook", "batch", "throttle_enable"), bool),
    OptionSpec("throttle_qps", ("--webhook-batch-throttle-qps",), ("webhook", "batch", "throttle_qps"), float),
    OptionSpec("throttle_burst", ("--webhook-batch-throttle-burst",), ("webhook", "batch", "throttle_burst"), int),
)
_BY_PATH = {spec.path: spec for spec in SPECS}


def _nest(values: Mapping[tuple[str, ...], Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for path, value in values.items():
        node = doc
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return doc


@dataclass(frozen=True)
class AuditOptions:
    """The audit options as given on one command line."""

    policy: Path | None
    values: Mapping[str, Any] = field(default_factory=dict)  # OptionSpec.name -> value

    def changed(self) -> list[OptionSpec]:
        """Options given a value other than their default."""
        return [s for s in SPECS if s.name in self.values and self.values[s.name] != s.default()]

    def settings(self, policy_needed: str | None = None) -> AuditSettings:
        """Validated settings; a bad value names its flag (exit 2).

        ``policy_needed``: why this command cannot run without --policy. Without it, no
        policy means no auditing, so a changed audit option would be silently dropped:
        that is refused too.
        """
        from pydantic import ValidationError

        if self.policy is None:
            if policy_needed:
                raise InputError("command line", "--policy", policy_needed)
            changed = self.changed()
            if changed:
                raise InputError("command line", changed[0].flag,
                                 "has no effect without --policy (no policy: nothing is audited)")
        if self.policy is not None:
            if not self.policy.is_file():
                raise InputError(self.policy, None, "policy file not found")
            from bench.policy.loader import load_policy  # validates like the apiserver

            load_policy(self.policy)
        self._check_used()
        doc = _nest({s.path: self.values[s.name] for s in SPECS if s.name in self.values})
        doc["policy"] = self.policy.resolve() if self.policy else None
        try:
            return AuditSettings.model_validate(doc)
        except ValidationError as exc:
            first = exc.errors()[0]
            spec = _BY_PATH.get(tuple(str(p) for p in first["loc"]))
            flag = spec.flag if spec else ".".join(str(p) for p in first["loc"])
            raise InputError("command line", flag, first["msg"].removeprefix("Value error, ")) from None


    def _value(self, name: str) -> Any:
        return self.values.get(name, next(s for s in SPECS if s.name == name).default())

    def _check_used(self) -> None:
        """Refuse an option the apiserver would not use with the others given."""
        for spec in self.changed():
            backend = spec.path[0]
            if spec.name in ("log", "webhook"):
                continue
            if not self._value(backend):
                off = "--no-log is given" if backend == "log" else "--webhook is not given"
                raise InputError("command line", spec.flag, f"has no effect: {off}")
            if spec.path[:2] == ("webhook", "batch") and self._value("webhook_mode") != "batch":
                raise InputError("command line", spec.flag, "applies to --webhook-mode batch only "
                                 "(kube-apiserver ignores batch options in blocking modes)")


def _parameters(policy_help: str) -> list[inspect.Parameter]:
    kw = inspect.Parameter.KEYWORD_ONLY
    params = [inspect.Parameter("policy", kw, default=None,
                                annotation=Annotated[Optional[Path], typer.Option("--policy", help=policy_help)])]
    for spec in SPECS:
        params.append(inspect.Parameter(spec.name, kw, default=spec.default(),
                                        annotation=Annotated[spec.type, typer.Option(*spec.decls, help=spec.help)]))
    return params


def audit_options(policy_help: str) -> Callable[[F], F]:
    """Add the audit options to a typer command whose ``audit`` parameter takes an AuditOptions."""

    def decorate(command: F) -> F:
        own = inspect.signature(command, eval_str=True)
        if "audit" not in own.parameters:
            raise TypeError(f"{command.__name__} needs an `audit` parameter")
        kept = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own.parameters.values() if p.name != "audit"]
        added = _parameters(policy_help)
        names = {p.name for p in added}

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> Any:
            given = {name: kwargs.pop(name) for name in list(kwargs) if name in names}
            policy = given.pop("policy")
            return command(audit=AuditOptions(policy, given), **kwargs)

        # typer reads the signature and the type hints: both must show the real options.
        del wrapper.__wrapped__
        wrapper.__signature__ = own.replace(parameters=added + kept)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in added + kept}
        return wrapper  # type: ignore[return-value]

    return decorate
