"""Versioned result documents.

Format history (bump SCHEMA_VERSION and add a loader branch for every change that an
old reader would misread; never change the meaning of an existing field):
  1 - first version: `auditbench.variant` (one per variant per repeat) and
      `auditbench.run` (the manifest run.json).
  2 - one window for every figure: `window`, `metrics_bracket`, `flags`, status "flagged",
      `audit.reconciliation`, log events by origin, webhook batches by arrival period (the
      shutdown flush apart), server percentiles with their bucket bounds (None inside the
      first bucket), process CPU lists and exits. Webhook `batches`/`events`/`bytes` and
      audit `metrics` now cover the window only (in 1 they spanned the whole run). A
      version-1 document loads with a flag saying its figures were not on one window.
      Added since, optional: audit.log.damaged_lines (lines a failed write cut short),
      audit.webhook.failed_in_bracket and failed_near_edges (events not delivered, by
      their request's arrival).

Numbers are None where a measurement did not apply (no log backend, a failed variant).
Models forbid unknown keys so a writer's typo fails at write time, not in a report.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bench.errors import InputError
from bench.scenario.validation import input_error

SCHEMA_VERSION = 2
VARIANT_KIND = "auditbench.variant"
RUN_KIND = "auditbench.run"

# "leaked": measured to the end, but secret values reached an audit sink. Its figures are
# valid (a RequestResponse policy's cost is worth knowing) and it still fails the run.
# "flagged": measured to the end, but a figure cannot be trusted as it stands (counters do not
# reconcile, the apiserver was killed before its audit backends flushed, the load generator
# fell behind, the window edges were missed). Figures are kept with the reasons in `flags`;
# reports show them and the run fails.
Status = Literal["ok", "failed", "timeout", "leaked", "flagged"]
MEASURED = ("ok", "leaked", "flagged")
RunStatus = Literal["running", "complete", "interrupted", "failed"]


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CpuPinning(_Doc):
    control_plane: list[int]
    load: list[int]


class Metadata(_Doc):
    auditbench_version: str | None = None
    kubernetes_version: str | None = None
    etcd_version: str | None = None
    python_version: str | None = None
    locust_version: str | None = None
    hostname: str | None = None
    cpu_count: int | None = None
    memory_bytes: int | None = None
    cpu_pinning: CpuPinning | None = None
    cpu_lists: dict[str, list[int] | None] = {}  # effective CPUs of every thread, per process
    nice: int | None = None  # priority the measured processes ran at (None: unchanged)
    started_at: str | None = None  # UTC ISO 8601
    ended_at: str | None = None
    backend: Literal["local", "kind", "external"] | None = None
    server_version: str | None = None  # kind, external: what the apiserver's /version says
    node_image: str | None = None  # kind: the node image the cluster ran
    # kind, external: what the backend could and could not measure, and how (preflight,
    # identities, "audit settings as configured", the cluster's name or context)
    backend_info: dict[str, Any] = {}
    apiserver_flags: list[str] = []
    policy_file: str | None = None
    policy_sha256: str | None = None
    seed: int | None = None


class LoadSpec(_Doc):
    mode: Literal["closed", "open"]
    users: int | None = None
    target_rps: float | None = None
    duration_s: float | None = None
    requests: int | None = None
    warmup_s: float = 0.0
    schedule: str | None = None  # open loop: constant | poisson
    rate_fraction: float | None = None  # target_rps as this fraction of the baseline's capacity
    objects_count: int | None = None  # growth collection: this many configmaps ...
    object_size_kb: float | None = None  # ... of this size (traffic.objects)
    nodes: int | None = None  # simulated kubelets (traffic.nodes)
    profiles_file: str | None = None  # traffic.profiles_file (None: the shipped profiles)


class VariantSpec(_Doc):
    policy: str
    audit: dict[str, Any] = {}  # bench.scenario.matrix.Variant.audit_dict()
    profile: str
    load: LoadSpec
    is_baseline: bool = False
    series_interval_s: float | None = None  # scenario timeseries (bench.measure.series)
    kubernetes: str | None = None  # the scenario's kubernetes axis; None: the pinned release


class WindowInfo(_Doc):
    """The traffic window every figure covers (unix s), and the client's recording around it."""

    start: float
    end: float
    duration_s: float
    recorded_start: float | None = None
    recorded_end: float | None = None
    recorded_coverage: float | None = None  # window / recording
    edge_error: str | None = None


class MetricsBracket(_Doc):
    """The /metrics scrapes whose deltas give the server figures, and their cover of the window."""

    start: float | None = None
    end: float | None = None
    labels: list[str] = []
    coverage: float | None = None
    scrape_ms: list[float] = []
    read_after_ms: list[float] = []  # from sending each scrape to its response headers (when the counters were read)
    scrape_errors: list[str] = []


class Traffic(_Doc):
    requests: int = 0
    failures: int = 0
    error_rate: float | None = None
    duration_s: float | None = None
    achieved_rps: float | None = None
    target_rps: float | None = None
    mode: str | None = None
    users: int | None = None
    errors_by_code: dict[str, int] = {}
    loadgen_cpu_seconds: float | None = None
    loadgen_cpu_util: float | None = None
    loadgen_cpu_util_max: float | None = None
    loadgen_saturated: bool | None = None
    late_slots: int | None = None
    schedule: str | None = None  # open loop: constant | poisson
    generator_lag_p99_ms: float | None = None  # open loop: p99 of send time − scheduled start


class LatencySummary(_Doc):
    count: int = 0
    mean_ms: float | None = None
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    p999_ms: float | None = None
    max_ms: float | None = None


class ClientLatency(_Doc):
    overall: LatencySummary
    by_class: dict[str, LatencySummary] = {}
    request_set: str | None = None  # which requests the percentiles are over
    from_schedule: LatencySummary | None = None  # open loop: from each request's scheduled start


class ServerLatency(_Doc):
    count: int | None = None
    p50_ms: float | None = None  # None: inside the first bucket (see bounds_ms)
    p90_ms: float | None = None
    p99_ms: float | None = None
    bounds_ms: dict[str, list[float | None]] = {}  # "p50" -> [lower, upper] of its bucket; None = +Inf


class ServerLatencies(_Doc):
    all: ServerLatency | None = None
    mutating: ServerLatency | None = None
    readonly: ServerLatency | None = None
    sli_all: ServerLatency | None = None
    sli_mutating: ServerLatency | None = None
    sli_readonly: ServerLatency | None = None
    by_class: dict[str, ServerLatency] = {}  # ClusterLoader2's "VERB resource[/subresource] scope"


class ExitRecord(_Doc):
    """How a component ended (bench.controlplane.procs.ExitInfo): SIGTERM, then SIGKILL after
    the grace period. ``clean``: it exited after SIGTERM within the grace period, so its
    shutdown work (kube-apiserver: flushing the audit backends) ran to the end."""

    signal_sent: str | None = None  # None: it had exited by itself before the harness stopped it
    killed: bool | None = None
    returncode: int | None = None
    seconds: float | None = None  # SIGTERM to exit
    clean: bool | None = None
    sigterm_at: float | None = None  # unix time


class Apiserver(_Doc):
    cpu_seconds: float | None = None
    # "proc": utime+stime read at the window's edges (local); "metrics": process_cpu_seconds_total
    # over the /metrics bracket (an apiserver that is not this machine's process)
    cpu_source: str | None = None
    cpu_ms_per_1k_requests: float | None = None
    rss_peak_bytes: int | None = None
    rss_mean_bytes: int | None = None
    rss_hwm_bytes: int | None = None
    rss_end_bytes: int | None = None
    heap_inuse_peak_bytes: int | None = None
    heap_inuse_end_bytes: int | None = None
    goroutines_end: int | None = None
    alloc_bytes: int | None = None
    alloc_bytes_per_1k_requests: float | None = None
    requests_by_verb_code: dict[str, dict[str, int]] = {}
    exit: ExitRecord | None = None


class Etcd(_Doc):
    cpu_seconds: float | None = None
    rss_peak_bytes: int | None = None
    rss_mean_bytes: int | None = None
    exit: ExitRecord | None = None


class AuditMetrics(_Doc):
    event_total: int | None = None
    error_total: dict[str, int] = {}  # by plugin; "buffered" = dropped when the buffer was full
    level_total: dict[str, int] = {}
    requests_rejected_total: int | None = None


class AuditLogStats(_Doc):
    enabled: bool = True
    bytes: int | None = None
    files: int | None = None
    events: int | None = None
    by_level: dict[str, int] = {}
    by_stage: dict[str, int] = {}
    by_resource: dict[str, int] = {}
    by_verb: dict[str, int] = {}
    bytes_by_level: dict[str, int] = {}
    bytes_by_resource: dict[str, int] = {}
    bytes_per_request: float | None = None
    events_per_request: float | None = None
    bytes_on_disk: int | None = None  # every file, whole run, as stored (compressed backups too)
    # In the window: {"traffic": {events, bytes}, "harness"|"background": {events, bytes, by_user}}
    origin: dict[str, dict[str, Any]] = {}
    outside_window: dict[str, Any] = {}
    staged_in_bracket: int | None = None  # all events processed inside the /metrics bracket
    damaged_lines: int | None = None  # lines cut short by a failed write (full disk, kill): not events
    # Per policy rule over the whole log (set-up and background included):
    # [{"rule", "level", "description", "events", "bytes"}], most bytes first.
    by_rule: list[dict[str, Any]] = []


class BatchSizes(_Doc):
    mean: float | None = None
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None
    max: float | None = None
    histogram: dict[str, int] = {}


class Lag(_Doc):
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None
    max: float | None = None


class WebhookStats(_Doc):
    enabled: bool = True
    batches: int | None = None
    events: int | None = None
    bytes: int | None = None
    events_per_batch: BatchSizes = BatchSizes()
    lag_ms: Lag = Lag()
    by_level: dict[str, int] = {}
    by_stage: dict[str, int] = {}
    http_errors: int | None = None
    http_errors_by_code: dict[str, int] = {}
    rejected: dict[str, int] = {}
    batches_per_s: float | None = None  # in the window
    events_per_s: float | None = None  # delivered in the window
    # by arrival: before / in_window / after_window / flushed_at_shutdown -> {batches, events, bytes, span_s}
    periods: dict[str, dict[str, Any]] = {}
    flushed_at_shutdown: dict[str, Any] = {}
    staged_in_bracket: dict[str, int] = {}  # events processed in the bracket, by arrival period
    receiver_down_at: float | None = None
    backlog_events: int | None = None  # in-window events staged before the receiver listened (not in lag_ms)
    # events the apiserver gave up delivering whose request arrived in the /metrics bracket
    # (its log of impacted events), for the reconciliation: the error counter counts them
    # when their batch fails, which may be after events from before the window
    failed_in_bracket: int | None = None
    # of those, how many arrived close enough before the bracket's start / end (closer than the
    # longest an event waited to be stamped) to have been stamped on the other side
    failed_near_edges: dict[str, int] = {}
    fault_stretch: list[float] | None = None  # unix times a fault stretch (fault_at/fault_for) began and ended
    dropped_reported: int | None = None  # schema 1 only
    delivery_span_s: float | None = None  # schema 1 only: first to last batch arrival


class Canaries(_Doc):
    checked: int = 0
    leaked: list[str] = []  # locations only (file:line, batch n), never the values


class AuditSection(_Doc):
    metrics: AuditMetrics = AuditMetrics()  # deltas over the /metrics bracket of the window
    metrics_after_window: AuditMetrics | None = None  # from the window's end to just before SIGTERM
    log: AuditLogStats | None = None
    webhook: WebhookStats | None = None
    reconciliation: dict[str, dict[str, Any]] = {}  # per backend, bench.measure.reconcile
    canaries: Canaries = Canaries()


class VariantResult(_Doc):
    schema_version: Literal[2] = SCHEMA_VERSION
    kind: Literal["auditbench.variant"] = VARIANT_KIND
    run_id: str
    variant_id: str
    repeat: int = Field(ge=1)
    status: Status
    error: str | None = None
    flags: list[str] = []  # why a measured variant's figures need a second look
    metadata: Metadata = Metadata()
    variant: VariantSpec
    window: WindowInfo | None = None
    metrics_bracket: MetricsBracket | None = None
    timeseries: list[dict[str, Any]] = []  # apiserver heap, goroutines, RSS, audit counters over time
    traffic: Traffic | None = None
    latency_client: ClientLatency | None = None
    latency_server: ServerLatencies | None = None
    apiserver: Apiserver | None = None
    etcd: Etcd | None = None
    audit: AuditSection | None = None
    samples_file: str | None = None  # relative to the run directory
    # scenario capacity.enabled: bench.analysis.probe.ProbeResult.as_dict() of this repeat
    capacity: dict[str, Any] | None = None
    # scenario timeseries: bench.measure.series {interval_s, points, errors, window}
    series: dict[str, Any] | None = None
    # a growth collection (traffic.objects): bench.measure.growth {collection, by_kind, audit_source}
    growth: dict[str, Any] | None = None


class Step(_Doc):
    variant_id: str
    repeat: int


class Finished(_Doc):
    variant_id: str
    repeat: int
    status: Status
    file: str  # relative to the run directory


class RunManifest(_Doc):
    schema_version: Literal[1, 2] = SCHEMA_VERSION
    kind: Literal["auditbench.run"] = RUN_KIND
    run_id: str
    scenario: str
    scenario_sha256: str
    created_at: str
    updated_at: str
    status: RunStatus
    order: list[Step] = []
    finished: list[Finished] = []
    metadata: Metadata = Metadata()
    # capacity_fractions: the baseline's measured capacity per profile, probed once at the
    # start so every variant and repeat runs at the same offered rates (resume reuses it)
    calibration: dict[str, Any] = {}


def _check_envelope(doc: Any, kind: str, where: str | None) -> None:
    if not isinstance(doc, dict):
        raise InputError(where, None, "not a result document (expected a JSON object)")
    version = doc.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise InputError(where, "schema_version", "missing or not an integer")
    if version > SCHEMA_VERSION:
        raise InputError(
            where, "schema_version", f"version {version} is newer than this auditbench understands ({SCHEMA_VERSION}); upgrade auditbench"
        )
    if version < 1:
        raise InputError(where, "schema_version", f"unknown version {version}")
    if doc.get("kind") != kind:
        raise InputError(where, "kind", f"expected {kind!r}, got {doc.get('kind')!r}")


V1_FLAG = "schema 1: figures were taken over different spans (before one-window accounting)"


def _upgrade_v1(doc: dict[str, Any]) -> dict[str, Any]:
    """Version 1 fields all exist in version 2; their spans differ, which the flag says."""
    doc = {**doc, "schema_version": 2}
    if doc.get("status") in ("ok", "leaked"):
        doc["flags"] = [V1_FLAG]
    return doc


def parse_variant(doc: Any, where: str | None = None) -> VariantResult:
    _check_envelope(doc, VARIANT_KIND, where)
    if doc["schema_version"] == 1:
        doc = _upgrade_v1(doc)
    try:
        return VariantResult.model_validate(doc)
    except ValidationError as exc:
        raise input_error(exc, where) from None


def parse_manifest(doc: Any, where: str | None = None) -> RunManifest:
    _check_envelope(doc, RUN_KIND, where)
    try:
        return RunManifest.model_validate(doc)
    except ValidationError as exc:
        raise input_error(exc, where) from None
