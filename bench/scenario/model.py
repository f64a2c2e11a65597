"""Strict scenario model: unknown keys and wrong types are errors with a field path.

List-valued fields are matrix dimensions; a scalar is accepted as a one-element list.
Durations are Go-style strings ("500ms", "5s", "1m30s") stored as float seconds and
written back as strings, so a dumped scenario reads like the file it came from.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from bench.errors import InputError
from bench.durations import format_duration, parse_duration

T = TypeVar("T")

# Traffic profiles shipped with the project (locust weights in YAML, issue 5).
KNOWN_PROFILES = ("mixed", "read-heavy", "write-heavy", "security", "noisy")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


def _duration(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f"expected a duration string such as '5s' or '500ms', got {value!r}")
    return parse_duration(value)


def _gate(value: str) -> str:
    from bench.analysis.gates import parse_gate  # one grammar for scenario files and the CLI

    try:
        parse_gate(value)
    except InputError as exc:
        raise ValueError(exc.reason) from None
    return value


def _as_list(value: Any) -> Any:
    return value if isinstance(value, list) else [value]


Duration = Annotated[float, BeforeValidator(_duration), PlainSerializer(format_duration, return_type=str)]
Durations = Annotated[list[Duration], BeforeValidator(_as_list), Field(min_length=1)]
Bools = Annotated[list[bool], BeforeValidator(_as_list), Field(min_length=1)]
PositiveInts = Annotated[list[Annotated[int, Field(gt=0)]], BeforeValidator(_as_list), Field(min_length=1)]
Mode = Literal["batch", "blocking", "blocking-strict"]
Modes = Annotated[list[Mode], BeforeValidator(_as_list), Field(min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _no_duplicates(values: list[Any]) -> list[Any]:
    seen: list[Any] = []
    for v in values:
        if v in seen:
            raise ValueError(f"duplicate value {v!r}")
        seen.append(v)
    return values


class LogMatrix(_Strict):
    """--audit-log-*; defaults are the reference article's rotation settings (30/10/100)."""

    enabled: Bools = [True]
    maxage: Annotated[int, Field(ge=0)] = 30
    maxbackup: Annotated[int, Field(ge=0)] = 10
    maxsize: Annotated[int, Field(ge=0)] = 100
    mode: Modes = ["blocking"]
    format: Literal["json", "legacy"] = "json"
    compress: bool = False
    batch_max_size: Annotated[int, Field(gt=0)] | None = None
    batch_buffer_size: Annotated[int, Field(gt=0)] | None = None
    batch_max_wait: Duration | None = None

    _unique = field_validator("enabled", "mode")(_no_duplicates)


class Throttle(_Strict):
    enable: bool = True
    qps: Annotated[float, Field(gt=0)] = 10.0
    burst: Annotated[int, Field(gt=0)] = 15


class ReceiverFaults(_Strict):
    """Fault injection in the webhook receiver (issue 5)."""

    delay_ms: Annotated[float, Field(ge=0)] = 0.0
    error_rate: Annotated[float, Field(ge=0, le=1)] = 0.0
    down_for_s: Annotated[float, Field(ge=0)] = 0.0


class WebhookMatrix(_Strict):
    """--audit-webhook-*; defaults are kube-apiserver's (batch, 30s, 400, 10000, 10 qps/15)."""

    enabled: Bools = [False]
    mode: Modes = ["batch"]
    batch_max_wait: Durations = [30.0]  # type: ignore[assignment]
    batch_max_size: PositiveInts = [400]
    batch_buffer_size: PositiveInts = [10000]
    throttle: Throttle = Throttle()
    initial_backoff: Duration | None = None
    receiver: ReceiverFaults = ReceiverFaults()

    _unique = field_validator(
        "enabled", "mode", "batch_max_wait", "batch_max_size", "batch_buffer_size"
    )(_no_duplicates)


class AuditMatrix(_Strict):
    log: LogMatrix = LogMatrix()
    webhook: WebhookMatrix = WebhookMatrix()


PositiveRates = Annotated[list[Annotated[float, Field(gt=0, le=1_000_000)]], BeforeValidator(_as_list), Field(min_length=1)]
Fractions = Annotated[list[Annotated[float, Field(gt=0, le=2)]], BeforeValidator(_as_list), Field(min_length=1)]


class Traffic(_Strict):
    """Closed loop (``users``, no think time: a saturation test) or open loop at fixed offered
    rates, the method for overhead: ``rates`` (req/s) or ``capacity_fractions`` of the
    baseline's capacity measured at the start of the run (bench.capacity). Every variant of
    a repeat runs at the same offered rates."""

    profiles: Annotated[list[str], BeforeValidator(_as_list), Field(min_length=1)] = ["mixed"]
    mode: Literal["closed", "open"] = "closed"
    users: Annotated[int, Field(ge=1)] | None = None
    target_rps: Annotated[float, Field(gt=0)] | None = None
    rates: PositiveRates | None = None
    capacity_fractions: Fractions | None = None
    schedule: Literal["constant", "poisson"] = "constant"
    duration: Duration | None = None
    requests: Annotated[int, Field(ge=1)] | None = None
    warmup: Duration = 5.0

    @field_validator("profiles")
    @classmethod
    def _known_profiles(cls, values: list[str]) -> list[str]:
        for v in values:
            if v not in KNOWN_PROFILES:
                raise ValueError(f"unknown traffic profile {v!r} (known: {', '.join(KNOWN_PROFILES)})")
        return _no_duplicates(values)

    @model_validator(mode="after")
    def _consistent(self) -> Traffic:
        if (self.duration is None) == (self.requests is None):
            raise ValueError("set exactly one of duration or requests")
        if self.mode == "closed" and self.users is None:
            raise ValueError("closed-loop traffic needs users")
        given = [k for k in ("target_rps", "rates", "capacity_fractions") if getattr(self, k) is not None]
        if self.mode == "closed" and given:
            raise ValueError(f"{given[0]} applies to open-loop traffic only (mode: open)")
        if self.mode == "open" and len(given) != 1:
            raise ValueError("open-loop traffic needs exactly one of target_rps, rates or capacity_fractions")
        if self.rates is not None:
            _no_duplicates(self.rates)
        if self.capacity_fractions is not None:
            _no_duplicates(self.capacity_fractions)
        return self

    def offered(self) -> list[tuple[float | None, float | None]]:
        """(rate, capacity fraction) per load point; (None, None) for closed loop."""
        if self.capacity_fractions is not None:
            return [(None, f) for f in self.capacity_fractions]
        if self.rates is not None:
            return [(r, None) for r in self.rates]
        return [(self.target_rps, None)]


class CapacityProbe(_Strict):
    """The highest open-loop rate at which the achieved rate keeps within 2% of the target
    and p99 stays under the SLO (ClusterLoader2: 1 s for mutating and single-object reads)."""

    enabled: bool = False  # probe every variant (capacity_fractions probe the baseline regardless)
    slo: Duration = 1.0
    start_rps: Annotated[float, Field(gt=0)] = 50.0
    max_rps: Annotated[float, Field(gt=0)] = 5000.0
    step_duration: Duration = 5.0
    step_warmup: Duration = 2.0
    precision: Annotated[float, Field(gt=0, lt=1)] = 0.05  # stop when the bracket is this narrow


class Scenario(_Strict):
    name: str
    description: str = ""
    backend: Literal["local", "kind"] = "local"
    policies: Annotated[list[str], BeforeValidator(_as_list), Field(min_length=1)]
    baseline: bool = True
    audit: AuditMatrix = AuditMatrix()
    traffic: Traffic
    repeats: Annotated[int, Field(ge=1, le=100)] = 1
    seed: int = 0
    timeout: Duration | None = None
    capacity: CapacityProbe = CapacityProbe()
    gates: list[Annotated[str, AfterValidator(_gate)]] = []

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("use lowercase letters, digits, '.', '_' and '-'")
        return v

    @field_validator("policies")
    @classmethod
    def _policies(cls, values: list[str]) -> list[str]:
        for v in values:
            if not v.strip():
                raise ValueError("empty policy name")
        return _no_duplicates(values)

    def variant_timeout_s(self) -> float:
        """Per-variant limit: explicit, or generous for start + warm-up + window + drain."""
        if self.timeout is not None:
            return self.timeout
        window = self.traffic.duration if self.traffic.duration is not None else 600.0
        return 120.0 + 3 * (self.traffic.warmup + window)
