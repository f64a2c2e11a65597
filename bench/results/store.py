"""results/<run-id>/: manifest, one JSON per variant and repeat, resolved scenario, samples.

Layout:
  run.json                          RunManifest
  scenario.yaml                     the resolved scenario (defaults filled in)
  variants/<variant_id>-r<N>.json   VariantResult, N = repeat (1-based)
  samples/<variant_id>-r<N>.csv.gz  raw client samples: t, cls, method, ms, status, bytes, ok
Everything is written atomically (bench.atomic); variant files are never overwritten
unless the caller says so.
"""

from __future__ import annotations

import io
import json
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from bench import atomic
from bench.errors import InputError
from bench.paths import results_root
from bench.results.schema import (
    MEASURED,
    Finished,
    Metadata,
    RunManifest,
    RunStatus,
    Step,
    VariantResult,
    parse_manifest,
    parse_variant,
)

MANIFEST = "run.json"
SCENARIO_COPY = "scenario.yaml"
SAMPLE_COLUMNS = ("t", "cls", "method", "ms", "status", "bytes", "ok")

# The figures of one variant×repeat row; analysis, gates and reports use these names.
METRIC_COLUMNS = (
    "client_mean_ms", "client_p50_ms", "client_p90_ms", "client_p99_ms", "client_p999_ms", "client_max_ms",
    "server_p50_ms", "server_p90_ms", "server_p99_ms", "server_mutating_p99_ms",
    "server_readonly_p99_ms", "server_sli_p99_ms",
    "requests", "failures", "error_rate", "achieved_rps", "loadgen_cpu_util",
    "cpu_seconds", "cpu_ms_per_1k", "rss_peak_bytes", "alloc_bytes_per_1k", "heap_inuse_peak_bytes", "capacity_rps",
    "window_s", "bracket_coverage",
    "etcd_cpu_seconds", "etcd_rss_peak_bytes",
    "audit_events_total", "audit_errors", "drops", "requests_rejected",
    "log_bytes", "log_events", "log_files", "bytes_per_request", "events_per_request",
    "webhook_batches", "webhook_events", "webhook_bytes", "webhook_batches_per_s",
    "webhook_events_per_batch", "webhook_lag_p50_ms", "webhook_lag_p99_ms", "webhook_http_errors",
    "webhook_delivery_eps", "webhook_events_per_batch_p90", "webhook_flushed_events",
    "canary_leaks", "unreconciled_backends",
)


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_run_id(now: datetime | None = None) -> str:
    """UTC timestamp + short random suffix: sorts by time, never collides in practice."""
    now = now or datetime.now(UTC)
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def variant_file(variant_id: str, repeat: int) -> str:
    return f"variants/{variant_id}-r{repeat}.json"


def samples_file(variant_id: str, repeat: int) -> str:
    return f"samples/{variant_id}-r{repeat}.csv.gz"


# --- writing ---------------------------------------------------------------------------


def create_run(
    scenario_name: str,
    scenario_sha256: str,
    scenario_yaml: str,
    order: Iterable[tuple[str, int]],
    metadata: Metadata | None = None,
    root: Path | None = None,
    run_id: str | None = None,
) -> tuple[Path, RunManifest]:
    """Make results/<run-id>/ with run.json (status running) and scenario.yaml."""
    run_id = run_id or new_run_id()
    run_dir = (root or results_root()) / run_id
    if (run_dir / MANIFEST).exists():
        raise FileExistsError(run_dir / MANIFEST)
    now = utc_now()
    manifest = RunManifest(
        run_id=run_id, scenario=scenario_name, scenario_sha256=scenario_sha256,
        created_at=now, updated_at=now, status="running",
        order=[Step(variant_id=v, repeat=r) for v, r in order],
        metadata=metadata or Metadata(),
    )
    atomic.write_text(run_dir / SCENARIO_COPY, scenario_yaml)
    write_manifest(run_dir, manifest)
    return run_dir, manifest


def write_manifest(run_dir: Path, manifest: RunManifest) -> Path:
    return atomic.write_json(run_dir / MANIFEST, manifest.model_dump(mode="json"))


def write_variant(run_dir: Path, result: VariantResult, replace: bool = False) -> Path:
    path = run_dir / variant_file(result.variant_id, result.repeat)
    if path.exists() and not replace:
        raise FileExistsError(path)
    return atomic.write_json(path, result.model_dump(mode="json"))


def record_finished(run_dir: Path, manifest: RunManifest, result: VariantResult, replace: bool = False) -> RunManifest:
    """Write the variant file, then the manifest that lists it (in that order, so a crash
    in between leaves a file the manifest does not know, never the reverse)."""
    write_variant(run_dir, result, replace=replace)
    kept = [f for f in manifest.finished if (f.variant_id, f.repeat) != (result.variant_id, result.repeat)]
    entry = Finished(variant_id=result.variant_id, repeat=result.repeat, status=result.status,
                     file=variant_file(result.variant_id, result.repeat))
    updated = manifest.model_copy(update={"finished": [*kept, entry], "updated_at": utc_now()})
    write_manifest(run_dir, updated)
    return updated


def set_calibration(run_dir: Path, manifest: RunManifest, calibration: dict[str, Any]) -> RunManifest:
    updated = manifest.model_copy(update={"calibration": calibration, "updated_at": utc_now()})
    write_manifest(run_dir, updated)
    return updated


def set_status(run_dir: Path, manifest: RunManifest, status: RunStatus) -> RunManifest:
    updated = manifest.model_copy(update={"status": status, "updated_at": utc_now()})
    write_manifest(run_dir, updated)
    return updated


def write_samples(path: Path, samples: pd.DataFrame | Iterable[tuple[Any, ...]]) -> Path:
    """Raw samples as gzip CSV with the fixed columns (a DataFrame or row tuples)."""
    frame = samples if isinstance(samples, pd.DataFrame) else pd.DataFrame(list(samples), columns=list(SAMPLE_COLUMNS))
    missing = set(SAMPLE_COLUMNS) - set(frame.columns)
    if missing:
        raise ValueError(f"samples lack columns {sorted(missing)}")
    buf = io.BytesIO()
    frame.loc[:, list(SAMPLE_COLUMNS)].to_csv(buf, index=False, compression={"method": "gzip", "mtime": 0})
    return atomic.write_bytes(path, buf.getvalue())


# --- reading ---------------------------------------------------------------------------


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(path, None, f"cannot read: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise InputError(path, None, f"not valid JSON: {exc}") from None


def read_variant(path: Path) -> VariantResult:
    return parse_variant(_read_json(path), str(path))


def read_manifest(run_dir: Path) -> RunManifest:
    return parse_manifest(_read_json(run_dir / MANIFEST), str(run_dir / MANIFEST))


def list_runs(root: Path | None = None) -> list[RunManifest]:
    """Runs under the results root, oldest first (ids sort by time); unreadable ones skipped."""
    root = root or results_root()
    out: list[RunManifest] = []
    for d in sorted(p for p in root.glob("*/") if (p / MANIFEST).is_file()):
        try:
            out.append(read_manifest(d))
        except InputError:
            continue
    return out


def resolve_run(ref: str | Path, root: Path | None = None) -> Path:
    """A run directory from a path, a run id under the results root, or "latest"."""
    root = root or results_root()
    p = Path(ref)
    if (p / MANIFEST).is_file():
        return p
    if str(ref) == "latest":
        runs = list_runs(root)
        if not runs:
            raise InputError(root, None, "no runs here")
        return root / runs[-1].run_id
    if (root / str(ref) / MANIFEST).is_file():
        return root / str(ref)
    raise InputError(str(ref), None, f"no run with that id or path (results root {root})")


def load_variants(run_dir: Path) -> list[VariantResult]:
    """Every variant file of a run, in file-name order."""
    return [read_variant(p) for p in sorted((run_dir / "variants").glob("*.json"))]


def read_samples(run_dir: Path, variant_id: str, repeat: int) -> pd.DataFrame:
    from bench.traffic import samples

    path = run_dir / samples_file(variant_id, repeat)
    if not path.is_file():
        return samples.empty_frame()
    try:
        return samples.read_samples([path])
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(path, None, f"unreadable samples: {exc}") from None


def load_samples(run_dir: Path, variant_ids: Iterable[str] | None = None, ok_only: bool = True) -> pd.DataFrame:
    """Samples of every (wanted) measured variant file, with variant_id and repeat columns.

    The request set of the result's own figures: requests started in the variant's window
    (schema 2; the whole recording for older results) and, with ``ok_only``, successful,
    non-watch requests (a watch's sample is the time to open its stream).
    """
    from bench.traffic.catalog import long_running_classes

    wanted = set(variant_ids) if variant_ids is not None else None
    long_running = long_running_classes()
    parts = []
    for res in load_variants(run_dir):
        if res.status not in MEASURED or (wanted is not None and res.variant_id not in wanted):
            continue
        s = read_samples(run_dir, res.variant_id, res.repeat)
        if res.window is not None:
            s = s[(s["t"] >= res.window.start) & (s["t"] < res.window.end)]
        if ok_only:
            s = s[(s["ok"] == 1) & ~s["cls"].isin(long_running)]
        parts.append(s.assign(variant_id=res.variant_id, repeat=res.repeat))
    if not parts:
        from bench.traffic import samples

        return samples.empty_frame().assign(variant_id=pd.Series(dtype="string"), repeat=pd.Series(dtype="int64"))
    return pd.concat(parts, ignore_index=True)


def load_frame(run_dir: Path) -> pd.DataFrame:
    """One row per variant × repeat: descriptors plus METRIC_COLUMNS (NaN = not measured)."""
    from bench.results.flatten import flatten

    rows = [flatten(r) for r in load_variants(run_dir)]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=["variant_id", "repeat", "status", *METRIC_COLUMNS])
    # None -> NaN, so every figure is a float column whatever the first row held
    for col in [c for c in frame.columns if c in METRIC_COLUMNS or "." in c]:
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    return frame
