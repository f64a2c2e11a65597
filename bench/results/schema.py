"""Versioned result documents.

Format history (bump SCHEMA_VERSION and add a loader branch for every change that an
old reader would misread; never change the meaning of an existing field):
  1 - first version: `auditbench.variant` (one per variant per repeat) and
      `auditbench.run` (the manifest run.json).

Numbers are None where a measurement did not apply (no log backend, a failed variant).
Models forbid unknown keys so a writer's typo fails at write time, not in a report.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bench.errors import InputError
from bench.scenario.validation import input_error

SCHEMA_VERSION = 1
VARIANT_KIND = "auditbench.variant"
RUN_KIND = "auditbench.run"

# "leaked": measured to the end, but secret values reached an audit sink. Its figures are
# valid (a RequestResponse policy's cost is worth knowing) and it still fails the run.
Status = Literal["ok", "failed", "timeout", "leaked"]
MEASURED = ("ok", "leaked")
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
    started_at: str | None = None  # UTC ISO 8601
    ended_at: str | None = None
    backend: Literal["local", "kind"] | None = None
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


class VariantSpec(_Doc):
    policy: str
    audit: dict[str, Any] = {}  # bench.scenario.matrix.Variant.audit_dict()
    profile: str
    load: LoadSpec
    is_baseline: bool = False


class Traffic(_Doc):
    requests: int = 0
    failures: int = 0
    duration_s: float | None = None
    achieved_rps: float | None = None
    target_rps: float | None = None
    errors_by_code: dict[str, int] = {}
    loadgen_cpu_seconds: float | None = None
    loadgen_cpu_util: float | None = None


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


class ServerLatency(_Doc):
    count: int | None = None
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None


class ServerLatencies(_Doc):
    all: ServerLatency | None = None
    mutating: ServerLatency | None = None
    readonly: ServerLatency | None = None
    sli_all: ServerLatency | None = None
    sli_mutating: ServerLatency | None = None
    sli_readonly: ServerLatency | None = None
    by_class: dict[str, ServerLatency] = {}  # "VERB resource[/subresource]"


class Apiserver(_Doc):
    cpu_seconds: float | None = None
    cpu_ms_per_1k_requests: float | None = None
    rss_peak_bytes: int | None = None
    rss_end_bytes: int | None = None
    alloc_bytes: int | None = None
    alloc_bytes_per_1k_requests: float | None = None
    requests_by_verb_code: dict[str, dict[str, int]] = {}


class Etcd(_Doc):
    cpu_seconds: float | None = None
    rss_peak_bytes: int | None = None


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
    # Per policy rule over the whole log (set-up and background included):
    # [{"rule", "level", "description", "events", "bytes"}], most bytes first.
    by_rule: list[dict[str, Any]] = []


class BatchSizes(_Doc):
    mean: float | None = None
    p50: float | None = None
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
    dropped_reported: int | None = None
    delivery_span_s: float | None = None  # first to last batch arrival


class Canaries(_Doc):
    checked: int = 0
    leaked: list[str] = []  # locations only (file:line, batch n), never the values


class AuditSection(_Doc):
    metrics: AuditMetrics = AuditMetrics()
    log: AuditLogStats | None = None
    webhook: WebhookStats | None = None
    canaries: Canaries = Canaries()


class VariantResult(_Doc):
    schema_version: Literal[1] = SCHEMA_VERSION
    kind: Literal["auditbench.variant"] = VARIANT_KIND
    run_id: str
    variant_id: str
    repeat: int = Field(ge=1)
    status: Status
    error: str | None = None
    metadata: Metadata = Metadata()
    variant: VariantSpec
    traffic: Traffic | None = None
    latency_client: ClientLatency | None = None
    latency_server: ServerLatencies | None = None
    apiserver: Apiserver | None = None
    etcd: Etcd | None = None
    audit: AuditSection | None = None
    samples_file: str | None = None  # relative to the run directory


class Step(_Doc):
    variant_id: str
    repeat: int


class Finished(_Doc):
    variant_id: str
    repeat: int
    status: Status
    file: str  # relative to the run directory


class RunManifest(_Doc):
    schema_version: Literal[1] = SCHEMA_VERSION
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


def parse_variant(doc: Any, where: str | None = None) -> VariantResult:
    _check_envelope(doc, VARIANT_KIND, where)
    # Only version 1 exists; an upgrader for older versions goes here.
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
