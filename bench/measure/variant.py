"""Measure one variant end to end on the local backend.

Order of events: receiver up (if the variant has a webhook) → cluster up with the variant's
audit flags → /metrics snapshot and /proc sampling → Locust traffic (its own process) →
/metrics snapshot → cluster stopped with SIGTERM, which flushes the audit backends →
receiver stopped → log volume, canary check, result document.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import socket
import tempfile
import traceback
from dataclasses import dataclass, field
from importlib import metadata as md
from pathlib import Path
from typing import Any

from bench import __version__
from bench.controlplane.build import Binaries, resolve
from bench.controlplane.local import LocalCluster
from bench.measure import auditlog, canary
from bench.measure.settings import audit_settings
from bench.results import store
from bench.results.schema import VariantResult
from bench.scenario.matrix import Variant


class CanaryLeak(RuntimeError):
    """A secret value written by the traffic was found in an audit sink."""


@dataclass
class MeasureOptions:
    bin_dir: str | None = None
    pin_cpus: bool = True
    workers: int = 0
    scratch_root: Path | None = None
    keep_scratch: bool = False
    echo: Any = field(default=print, repr=False)


def cpu_split(pin: bool) -> tuple[set[int], set[int]] | None:
    """Disjoint CPU sets: control plane on the upper half, load side on the lower half."""
    if not pin:
        return None
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    half = len(cpus) // 2
    return set(cpus[half:]), set(cpus[:half])


def _sha256(path: Path | None) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path else None


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def base_metadata(bins: Binaries, variant: Variant, seed: int, split: tuple[set[int], set[int]] | None) -> dict[str, Any]:
    return {
        "auditbench_version": __version__,
        "kubernetes_version": bins.kubernetes_version,
        "etcd_version": bins.etcd_version,
        "python_version": platform.python_version(),
        "locust_version": _version("locust"),
        "hostname": socket.gethostname(),
        "cpu_count": os.cpu_count(),
        "memory_bytes": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
        "cpu_pinning": {"control_plane": sorted(split[0]), "load": sorted(split[1])} if split else None,
        "backend": "local",
        "policy_file": str(variant.policy_path) if variant.policy_path else None,
        "policy_sha256": _sha256(variant.policy_path),
        "seed": seed,
    }


def measure_variant(
    variant: Variant, run_id: str, repeat: int, seed: int, run_dir: Path, options: MeasureOptions | None = None
) -> VariantResult:
    """Run one variant; failures are recorded in the result, never raised (except Ctrl-C)."""
    from bench.measure.window import measure_window

    options = options or MeasureOptions()
    started = store.utc_now()
    bins = resolve(options.bin_dir, echo=options.echo)
    split = cpu_split(options.pin_cpus)
    meta = base_metadata(bins, variant, seed, split)
    meta["started_at"] = started
    scratch = Path(tempfile.mkdtemp(prefix=f"auditbench-{variant.id}-r{repeat}-", dir=options.scratch_root))
    doc: dict[str, Any] = {
        "run_id": run_id, "variant_id": variant.id, "repeat": repeat, "status": "ok",
        "variant": variant.spec_dict(), "metadata": meta,
    }
    try:
        figures = measure_window(variant, audit_settings(variant), bins, scratch, run_dir, repeat, seed, split, options)
        meta["apiserver_flags"] = figures.pop("apiserver_flags")
        doc.update(figures)
        leaked = doc["audit"]["canaries"]["leaked"]
        if leaked:
            raise CanaryLeak(
                f"SECRET VALUES LEAKED into the audit output of {variant.id}: {'; '.join(leaked)} — "
                f"policy {variant.policy} logs secrets at Request or RequestResponse"
            )
    except KeyboardInterrupt:
        raise
    except CanaryLeak as exc:
        doc["status"] = "leaked"
        doc["error"] = str(exc)
        options.echo(f"[red]{exc}[/red]")
    except Exception as exc:  # recorded, the matrix goes on
        doc["status"] = "failed"
        doc["error"] = f"{type(exc).__name__}: {exc}"
        (scratch / "error.txt").write_text(traceback.format_exc())
        options.echo(f"[red]variant {variant.id} r{repeat} failed:[/red] {doc['error']} (details: {scratch / 'error.txt'})")
        options.keep_scratch = True
    finally:
        meta["ended_at"] = store.utc_now()
        if not options.keep_scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    try:
        return VariantResult.model_validate(doc)
    except ValueError as exc:  # a measurement that does not fit the schema is a failed variant, not a crash
        (scratch.parent / f"{scratch.name}-invalid.json").write_text(repr(doc))
        keep = {k: doc[k] for k in ("run_id", "variant_id", "repeat", "variant", "metadata")}
        return VariantResult.model_validate({**keep, "status": "failed", "error": f"result did not validate: {exc}"})


def rule_costs(files: list[Path], policy_path: Path | None) -> list[dict[str, Any]]:
    """Events and bytes per policy rule: which rule makes the log big."""
    if policy_path is None or not files:
        return []
    from bench.logs.attribution import attribute_sources
    from bench.logs.reader import expand
    from bench.policy.loader import load_policy

    result = attribute_sources(expand(files), load_policy(policy_path))
    rows = [r.to_json() for r in result.rules if r.events]
    return sorted(rows, key=lambda r: -r["bytes"])


def log_section(cluster_log: Path | None, window: tuple[float, float], requests: int,
                policy_path: Path | None = None) -> dict[str, Any] | None:
    if cluster_log is None:
        return None
    files = auditlog.log_files(cluster_log)
    vol = auditlog.volume(files, window)
    return {
        "by_rule": rule_costs(files, policy_path),
        "enabled": True,
        "bytes": vol["bytes"],
        "files": len(files),
        "events": vol["events"],
        "by_level": vol["by_level"],
        "by_stage": vol["by_stage"],
        "by_resource": vol["by_resource"],
        "by_verb": vol["by_verb"],
        "bytes_by_level": vol["bytes_by_level"],
        "bytes_per_request": vol["bytes"] / requests if requests else None,
        "events_per_request": vol["events"] / requests if requests else None,
    }


def canary_section(canary_file: Path, cluster: LocalCluster, capture: Path | None) -> dict[str, Any]:
    files = auditlog.log_files(cluster.audit_log_path) if cluster.audit_log_path else []
    if capture is not None:
        files.append(capture)
    files += sorted(cluster.logs_dir.glob("*.log"))  # component logs must not carry them either
    return canary.scan(canary.read_canaries(canary_file), files)
