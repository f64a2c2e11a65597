"""Strict scenario model: unknown keys and wrong types are errors with a field path.

List-valued fields are matrix dimensions; a scalar is accepted as a one-element list.
Durations are Go-style strings ("500ms", "5s", "1m30s") stored as float seconds and
written back as strings, so a dumped scenario reads like the file it came from.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bench.controlplane.audit import AuditSettings, BatchSettings, LogBackend, WebhookBackend
from bench.durations import format_duration, parse_duration
from bench.errors import InputError
from bench.traffic.profiles import MAX_NODES, MAX_OBJECT_KB, MAX_OBJECTS, check_collection

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
# The audit settings' own defaults and constraints (bench.controlplane.audit): a scenario
# field takes what the setting takes, defaulting to what the setting defaults to.
_LOG = LogBackend()
_HOOK = WebhookBackend()
# Bounds of the traffic generator (bench/traffic/launcher.py), checked here so a bad value
# stops the scenario before any cluster starts instead of failing every variant.
MAX_USERS = 5000
MAX_TARGET_RPS = 1_000_000.0
MAX_DURATION_S = 86400.0
MAX_WARMUP_S = 3600.0


def _like(model: type[BaseModel], name: str) -> Any:
    """The type of ``model.name`` with its constraints (Field(gt=0), ...) attached."""
    info = model.model_fields[name]
    return Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation


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


def _dimension(item: Any) -> Any:
    """A matrix dimension: a non-empty list of ``item`` (a scalar is a one-element list)."""
    return Annotated[list[item], BeforeValidator(_as_list), Field(min_length=1)]


Duration = Annotated[float, BeforeValidator(_duration), PlainSerializer(format_duration, return_type=str)]
Durations = _dimension(Duration)
Bools = _dimension(bool)


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
    """--audit-log-*; defaults are LogBackend's (the reference article's rotation, 30/10/100)."""

    enabled: Bools = [_LOG.enabled]
    maxage: _like(LogBackend, "maxage") = _LOG.maxage  # type: ignore[valid-type]
    maxbackup: _like(LogBackend, "maxbackup") = _LOG.maxbackup  # type: ignore[valid-type]
    maxsize: _like(LogBackend, "maxsize") = _LOG.maxsize  # type: ignore[valid-type]
    mode: _dimension(_like(LogBackend, "mode")) = [_LOG.mode]  # type: ignore[valid-type]
    format: str = _LOG.format
    compress: bool = _LOG.compress
    # None: the log backend's own batch defaults (LogBackend().batch), used in batch mode only.
    batch_max_size: _like(BatchSettings, "max_size") | None = None  # type: ignore[valid-type]
    batch_buffer_size: _like(BatchSettings, "buffer_size") | None = None  # type: ignore[valid-type]
    batch_max_wait: Duration | None = None

    _unique = field_validator("enabled", "mode")(_no_duplicates)

    @field_validator("format")
    @classmethod
    def _json_only(cls, value: str) -> str:
        if value == "legacy":
            raise ValueError("the legacy format cannot be measured: auditbench counts events and bytes "
                             "from the log's JSON lines (use json)")
        if value != "json":
            raise ValueError(f"unknown log format {value!r} (kube-apiserver writes json or legacy)")
        return value

    @model_validator(mode="after")
    def _batch_needs_batch_mode(self) -> LogMatrix:
        given = [n for n in ("batch_max_size", "batch_buffer_size", "batch_max_wait") if getattr(self, n) is not None]
        if given and "batch" not in self.mode and True in self.enabled:
            raise ValueError(f"{given[0]} applies to mode batch only, and no mode is batch: "
                             "kube-apiserver would ignore it")
        return self


class Throttle(_Strict):
    enable: bool = _HOOK.batch.throttle_enable
    qps: _like(BatchSettings, "throttle_qps") = _HOOK.batch.throttle_qps  # type: ignore[valid-type]
    burst: _like(BatchSettings, "throttle_burst") = _HOOK.batch.throttle_burst  # type: ignore[valid-type]


class ReceiverFaults(_Strict):
    """Fault injection in the webhook receiver (issue 5).

    Without ``fault_at`` the delay and error rate hold for the receiver's whole life and the
    receiver goes down a third into the window. With it, the faults are a stretch of the
    window: from ``fault_at`` (counted from the window's start, not the receiver's) for
    ``fault_for`` the receiver is slow and/or erroring, and down for its first ``down_for_s``.
    """

    delay_ms: Annotated[float, Field(ge=0)] = 0.0
    error_rate: Annotated[float, Field(ge=0, le=1)] = 0.0
    down_for_s: Annotated[float, Field(ge=0)] = 0.0
    fault_at: Duration | None = None
    fault_for: Duration | None = None

    @model_validator(mode="after")
    def _stretch(self) -> ReceiverFaults:
        if (self.fault_at is None) != (self.fault_for is None):
            raise ValueError("fault_at and fault_for go together (the stretch's start in the window and its length)")
        if self.fault_for is not None:
            if self.fault_for <= 0:
                raise ValueError("fault_for must be more than 0s")
            if not (self.delay_ms or self.error_rate or self.down_for_s):
                raise ValueError("a fault stretch needs delay_ms, error_rate or down_for_s")
            if self.down_for_s > self.fault_for:
                raise ValueError("down_for_s is longer than the stretch (fault_for)")
        return self


class WebhookMatrix(_Strict):
    """--audit-webhook-*; defaults are WebhookBackend's, i.e. kube-apiserver's (batch, 30s, 400, 10000, 10 qps/15)."""

    enabled: Bools = [_HOOK.enabled]
    mode: _dimension(_like(WebhookBackend, "mode")) = [_HOOK.mode]  # type: ignore[valid-type]
    batch_max_wait: Durations = [parse_duration(_HOOK.batch.max_wait)]  # type: ignore[assignment]
    batch_max_size: _dimension(_like(BatchSettings, "max_size")) = [_HOOK.batch.max_size]  # type: ignore[valid-type]
    batch_buffer_size: _dimension(_like(BatchSettings, "buffer_size")) = [_HOOK.batch.buffer_size]  # type: ignore[valid-type]
    throttle: Throttle = Throttle()
    initial_backoff: Duration | None = None
    receiver: ReceiverFaults = ReceiverFaults()

    _unique = field_validator(
        "enabled", "mode", "batch_max_wait", "batch_max_size", "batch_buffer_size"
    )(_no_duplicates)

    @model_validator(mode="after")
    def _nothing_ignored(self) -> WebhookMatrix:
        # A setting that no variant uses would be silently dropped: refuse it instead.
        default = WebhookMatrix.model_construct()
        changed = [n for n in ("batch_max_wait", "batch_max_size", "batch_buffer_size", "throttle")
                   if getattr(self, n) != getattr(default, n)]
        if True not in self.enabled:
            changed += [n for n in ("mode", "initial_backoff", "receiver") if getattr(self, n) != getattr(default, n)]
            if changed:
                raise ValueError(f"{changed[0]} is set but the webhook backend is not enabled (enabled: true)")
        elif changed and "batch" not in self.mode:
            raise ValueError(f"{changed[0]} applies to mode batch only, and no mode is batch: "
                             "kube-apiserver would ignore it")
        return self


class AuditMatrix(_Strict):
    log: LogMatrix = LogMatrix()
    webhook: WebhookMatrix = WebhookMatrix()

    @classmethod
    def of(cls, settings: AuditSettings, receiver: ReceiverFaults | None = None) -> AuditMatrix:
        """The one-variant matrix of ``settings`` (what `auditbench measure` runs)."""
        log, hook = settings.log, settings.webhook
        faults = receiver or ReceiverFaults()
        webhook = WebhookMatrix(enabled=[False], receiver=faults)
        if hook.enabled:
            batch = {}
            if hook.mode == "batch":  # outside batch mode kube-apiserver has no batch flags
                batch = dict(batch_max_wait=[hook.batch.max_wait], batch_max_size=[hook.batch.max_size],
                             batch_buffer_size=[hook.batch.buffer_size],
                             throttle=Throttle(enable=hook.batch.throttle_enable, qps=hook.batch.throttle_qps,
                                               burst=hook.batch.throttle_burst))
            webhook = WebhookMatrix(enabled=[True], mode=[hook.mode], initial_backoff=hook.initial_backoff,
                                    receiver=faults, **batch)
        return cls(
            log=LogMatrix(enabled=[log.enabled], maxage=log.maxage, maxbackup=log.maxbackup, maxsize=log.maxsize,
                          mode=[log.mode], format=log.format, compress=log.compress),
            webhook=webhook,
        )


def _profiles_path(file: str | None) -> Path:
    from bench.traffic.profiles import DEFAULT_FILE  # the profiles Locust runs: profiles.yaml

    return Path(file) if file else DEFAULT_FILE


def _known_profile(name: str, file: str | None = None) -> str:
    from bench.traffic.profiles import profile_names

    known = profile_names(_profiles_path(file))
    if name not in known:
        raise ValueError(f"unknown traffic profile {name!r} (known: {', '.join(known)})")
    return name


def _profile_item(name: str, info: ValidationInfo) -> str:
    return _known_profile(name, (info.data or {}).get("profiles_file"))


def load_named_profile(name: str, file: str | None = None) -> Any:
    from bench.traffic.profiles import load_profile

    return load_profile(name, _profiles_path(file))


class ObjectsMatrix(_Strict):
    """The growth collection as matrix dimensions: every count × every size (bulk.* classes)."""

    count: _dimension(Annotated[int, Field(ge=1, le=MAX_OBJECTS)])  # type: ignore[valid-type]
    size_kb: _dimension(Annotated[float, Field(gt=0, le=MAX_OBJECT_KB)])  # type: ignore[valid-type]

    _unique = field_validator("count", "size_kb")(_no_duplicates)

    @model_validator(mode="after")
    def _fits(self) -> ObjectsMatrix:
        check_collection(max(self.count), max(self.size_kb))
        return self

    def points(self) -> list[tuple[int, float]]:
        return [(n, s) for n in self.count for s in self.size_kb]


def _reads_collection(profile: str, file: str | None = None) -> bool:
    return load_named_profile(profile, file).reads_collection


def _is_kubelet(profile: str, file: str | None = None) -> bool:
    return load_named_profile(profile, file).kubelet is not None


class Traffic(_Strict):
    """The load of every variant: closed loop (``users``, no think time: a saturation test)
    or open loop at fixed offered rates, the method for overhead: ``rates`` (req/s) or
    ``capacity_fractions`` of the baseline's capacity, measured once at the start of the run
    (bench.measure.capacity). Every variant of a repeat runs at the same offered rates.

    ``duration`` is the measured window and is always given. ``requests`` ends the window
    early once that many requests are recorded; the window still bounds it, so a cap the
    window cannot reach is refused here rather than silently cut short.
    """

    # A profiles file of your own (e.g. from `auditbench traffic from-log`), relative to the scenario file.
    profiles_file: str | None = None
    profiles: _dimension(Annotated[str, AfterValidator(_profile_item)]) = ["mixed"]  # type: ignore[valid-type]
    mode: Literal["closed", "open"] = "closed"
    users: Annotated[int, Field(ge=1, le=MAX_USERS)] | None = None
    target_rps: Annotated[float, Field(gt=0, le=MAX_TARGET_RPS)] | None = None
    rates: _dimension(Annotated[float, Field(gt=0, le=MAX_TARGET_RPS)]) | None = None  # type: ignore[valid-type]
    capacity_fractions: _dimension(Annotated[float, Field(gt=0, le=2)]) | None = None  # type: ignore[valid-type]
    # multiples of a derived profile's captured rate (its rate_rps): replay at 1x, 2x, 5x
    rate_scales: _dimension(Annotated[float, Field(gt=0, le=100)]) | None = None  # type: ignore[valid-type]
    schedule: Literal["constant", "poisson"] = "constant"
    duration: Duration | None = None
    requests: Annotated[int, Field(ge=1)] | None = None
    warmup: Duration = 5.0
    objects: ObjectsMatrix | None = None  # growth: the collection the bulk.* classes read
    # cluster size: simulated kubelets of a kubelet profile (profile nodes), one user each
    nodes: _dimension(Annotated[int, Field(ge=1, le=MAX_NODES)]) | None = None  # type: ignore[valid-type]

    @field_validator("profiles_file")
    @classmethod
    def _file(cls, value: str | None) -> str | None:
        if value is not None:
            from bench.traffic.profiles import load_profiles

            try:
                load_profiles(value)
            except InputError as exc:
                raise ValueError(exc.line()) from None
        return value

    _unique = field_validator("profiles")(_no_duplicates)

    @field_validator("duration")
    @classmethod
    def _window(cls, value: float | None) -> float | None:
        if value is not None and not (0 < value <= MAX_DURATION_S):
            raise ValueError(f"the window must be more than 0s and at most {format_duration(MAX_DURATION_S)}")
        return value

    @field_validator("warmup")
    @classmethod
    def _warmup(cls, value: float) -> float:
        if value > MAX_WARMUP_S:
            raise ValueError(f"at most {format_duration(MAX_WARMUP_S)}")
        return value

    @field_validator("requests")
    @classmethod
    def _cap_fits_window(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is None or "duration" not in info.data:
            return value  # a bad duration is reported on its own
        window = info.data["duration"]
        if window is None:
            raise ValueError("requests needs duration too: the window ends when either is reached")
        rates = info.data.get("rates") or [info.data.get("target_rps")]
        rate = min((r for r in rates if r), default=None) if info.data.get("mode") == "open" else None
        if rate and value > rate * window:
            raise ValueError(f"{value} requests at {rate:g} req/s take {format_duration(value / rate)}, "
                             f"longer than the {format_duration(window)} window: raise duration or lower requests")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Traffic:
        if self.duration is None and self.requests is None:
            raise ValueError("set duration (the measured window)")
        kubelets = [p for p in self.profiles if _is_kubelet(p, self.profiles_file)]
        if kubelets and self.mode != "closed":
            raise ValueError(f"profile {kubelets[0]} simulates kubelets on their own schedule: use mode closed")
        if self.nodes is not None:
            _no_duplicates(self.nodes)
            if not kubelets:
                raise ValueError("nodes is set but no profile simulates kubelets (e.g. profile nodes)")
        if self.mode == "closed" and self.users is None and len(kubelets) < len(self.profiles):
            raise ValueError("closed-loop traffic needs users")
        given = [k for k in ("target_rps", "rates", "capacity_fractions", "rate_scales") if getattr(self, k) is not None]
        if self.mode == "closed" and given:
            raise ValueError(f"{given[0]} applies to open-loop traffic only (mode: open)")
        if self.mode == "open" and len(given) != 1:
            raise ValueError("open-loop traffic needs exactly one of target_rps, rates, capacity_fractions or rate_scales")
        if self.rate_scales is not None:
            _no_duplicates(self.rate_scales)
            for p in self.profiles:
                if load_named_profile(p, self.profiles_file).rate_rps is None:
                    raise ValueError(f"rate_scales needs profiles with a captured rate (rate_rps); {p} has none")
        if self.rates is not None:
            _no_duplicates(self.rates)
        if self.capacity_fractions is not None:
            _no_duplicates(self.capacity_fractions)
        if self.objects is not None and not any(_reads_collection(p, self.profiles_file) for p in self.profiles):
            raise ValueError("objects is set but no profile reads a collection (bulk.* classes, e.g. profile objects)")
        return self

    def offered(self, captured_rps: float | None = None) -> list[tuple[float | None, float | None]]:
        """(rate, capacity fraction) per load point; (None, None) for closed loop; with
        rate_scales, each scale × the profile's ``captured_rps``."""
        if self.rate_scales is not None:
            return [(round(s * (captured_rps or 0.0), 3), None) for s in self.rate_scales]
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


AS_CONFIGURED = "as-configured"  # the external backend's only policy: the cluster's own, never changed
KIND_CREATE_S = 600.0  # a kind variant's timeout also covers `kind create cluster` (image pull, kubeadm)


def _default_image() -> str:
    from bench.kind.config import DEFAULT_IMAGE

    return DEFAULT_IMAGE


class KindOptions(_Strict):
    """backend: kind. The node image (pin its digest: kind's release notes list them)."""

    image: Annotated[str, Field(min_length=1)] = Field(default_factory=_default_image)


class Scenario(_Strict):
    name: str
    description: str = ""
    backend: Literal["local", "kind", "external"] = "local"
    policies: Annotated[list[str], BeforeValidator(_as_list), Field(min_length=1)]
    baseline: bool = True
    kind: KindOptions | None = None  # backend: kind only (None there: KindOptions())
    audit: AuditMatrix = AuditMatrix()
    traffic: Traffic
    repeats: Annotated[int, Field(ge=1, le=100)] = 1
    seed: int = 0
    timeout: Duration | None = None
    capacity: CapacityProbe = CapacityProbe()
    gates: list[Annotated[str, AfterValidator(_gate)]] = []
    # Per-second (or this often) apiserver heap, goroutines, RSS, receiver connections and audit
    # counters over the window (bench.measure.series); off by default: each /metrics scrape
    # costs the apiserver ~30 ms of CPU.
    timeseries: Duration | None = None
    # Kubernetes releases to compare (a matrix dimension); None: the pinned release only.
    # Each must be built first: `auditbench controlplane build --kubernetes vX.Y.Z`.
    kubernetes: _dimension(str) | None = None  # type: ignore[valid-type]

    @field_validator("kubernetes")
    @classmethod
    def _releases(cls, values: list[str] | None) -> list[str] | None:
        if values is None:
            return None
        from bench.controlplane.releases import check_version

        for v in values:
            try:
                check_version(v)
            except InputError as exc:
                raise ValueError(exc.reason) from None
        return _no_duplicates(values)

    @field_validator("timeseries")
    @classmethod
    def _series_interval(cls, value: float | None) -> float | None:
        if value is not None and not (0.2 <= value <= 60):
            raise ValueError("between 200ms and 1m")
        return value

    @model_validator(mode="before")
    @classmethod
    def _external_defaults(cls, data: Any) -> Any:
        """An external cluster keeps its own audit settings: one policy axis, "as configured",
        and no baseline (auditing cannot be turned off there), unless the file says otherwise
        (which the after-validator refuses with the field named)."""
        if isinstance(data, dict) and data.get("backend") == "external":
            data = {"policies": [AS_CONFIGURED], "baseline": False, **data}
        return data

    @model_validator(mode="after")
    def _fits_backend(self) -> Scenario:
        if self.backend == "external":
            if self.policies != [AS_CONFIGURED]:
                raise ValueError(f"policies: the external backend never changes the cluster's audit settings; "
                                 f"use policies: [{AS_CONFIGURED}] (or leave policies out)")
            if self.baseline:
                raise ValueError("baseline: the external backend cannot turn auditing off (set baseline: false)")
            if self.audit != AuditMatrix():
                raise ValueError("audit: the external backend measures the cluster's audit settings as configured; "
                                 "leave audit out")
        elif AS_CONFIGURED in self.policies:
            raise ValueError(f"policies: {AS_CONFIGURED} is the external backend's (backend: external)")
        if self.backend != "local" and (self.capacity.enabled or self.traffic.capacity_fractions is not None):
            raise ValueError(f"capacity: capacity probes run on the local backend only, not {self.backend} "
                             "(they push the apiserver to saturation)")
        if self.backend != "kind" and self.kind is not None:
            raise ValueError("kind: applies to backend: kind only")
        return self

    def kind_options(self) -> KindOptions:
        return self.kind or KindOptions()

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("use lowercase letters, digits, '.', '_' and '-'")
        return v

    @field_validator("timeout")
    @classmethod
    def _timeout_fits(cls, value: float | None, info: ValidationInfo) -> float | None:
        traffic = info.data.get("traffic")
        if value is None or traffic is None or traffic.duration is None:
            return value
        needed = traffic.warmup + traffic.duration
        if value <= needed:
            raise ValueError(f"{format_duration(value)} is not more than warm-up + window "
                             f"({format_duration(needed)}): every variant would time out")
        return value

    @model_validator(mode="after")
    def _stretch_in_window(self) -> Scenario:
        r, window = self.audit.webhook.receiver, self.traffic.duration
        if r.fault_at is not None and r.fault_for is not None and window is not None and r.fault_at + r.fault_for > window:
            raise ValueError(f"audit.webhook.receiver: the fault stretch ends at {format_duration(r.fault_at + r.fault_for)}, "
                             f"after the {format_duration(window)} window")
        return self

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
        create = KIND_CREATE_S if self.backend == "kind" else 0.0
        return 120.0 + create + 3 * (self.traffic.warmup + (self.traffic.duration or 0.0))
