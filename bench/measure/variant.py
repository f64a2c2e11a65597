"""Measure one variant end to end on its backend: one window for every figure.

Order: receiver up (if the variant has a webhook) → cluster up with the variant's audit
flags → every measurement's start → Locust traffic; at the window's edges (when every
Locust process records, and just before the first stops) every measurement takes its
snapshot → measurements stop → the cluster is stopped (local: with SIGTERM, which flushes
the audit backends; how each process ended is recorded) → receiver stopped → every
measurement collects its figures over the window → reconciliation and status.

The backend (bench.backends: local, kind, external) is the cluster; the measurements run
are the ones whose needs its capabilities provide (no /proc for an apiserver elsewhere).

A variant is "failed" when its control plane died during the run, when more of its
requests failed than the traffic expects (MAX_ERROR_RATE), or when it had no window, and
then keeps the evidence but no figures (bench.measure.failure); "leaked" when a secret
value reached an audit sink; "flagged" when its figures need a second look (counters that
do not reconcile, audit events lost, a killed flush, a missed edge, a saturated load
generator). Failures are recorded in the result, never raised (except Ctrl-C).
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import socket
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from importlib import metadata as md
from pathlib import Path
from typing import Any

from bench import __version__, atomic
from bench.backends import for_variant
from bench.backends.base import Backend, measurements_for
from bench.controlplane.procs import measured_nice
from bench.measure import failure, reconcile
from bench.measure.base import BaseMeasurement, Context, Window, create
from bench.measure.client import MAX_ERROR_RATE, MAX_LAG_P99_MS
from bench.results import store
from bench.results.schema import VariantResult
from bench.scenario.matrix import Variant

# Registration happens on import; the order is the order of edges and collects: /proc first
# at an edge (a read takes microseconds), then /metrics; the client's figures and the
# /metrics bracket are collected before the audit sinks that use them.
from bench.measure import auditlog, canary, client, growth, process, series, server, webhook  # noqa: E402,F401

MEASUREMENTS = ("process", "apiserver_metrics", "series", "webhook", "client", "audit_log", "growth", "canaries")
COVERAGE_MIN = 0.95  # the /metrics bracket must cover this share of the window


@dataclass
class MeasureOptions:
    bin_dir: str | None = None
    pin_cpus: bool = True
    workers: int = 0
    scratch_root: Path | None = None
    keep_scratch: bool = False
    max_error_rate: float = MAX_ERROR_RATE
    # Raise the measured processes' priority (control plane, Locust, receiver) above other
    # work on the machine, where allowed (root or CAP_SYS_NICE); recorded in the metadata.
    priority: bool = True
    audit_log_dir: Path | None = None  # each variant's audit log in its own directory under it
    echo: Any = field(default=print, repr=False)
    target: Any = None  # a kind or external backend's run-level settings (bench.backends.prepare)


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


def base_metadata(backend: Backend, variant: Variant, seed: int, split: tuple[set[int], set[int]] | None) -> dict[str, Any]:
    versions = backend.versions()
    return {
        "auditbench_version": __version__,
        "kubernetes_version": versions.get("kubernetes_version"),
        "etcd_version": versions.get("etcd_version"),
        "python_version": platform.python_version(),
        "locust_version": _version("locust"),
        "hostname": socket.gethostname(),
        "cpu_count": os.cpu_count(),
        "memory_bytes": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
        "cpu_pinning": {"control_plane": sorted(split[0]), "load": sorted(split[1])} if split else None,
        "backend": backend.name,
        "policy_file": str(variant.policy_path) if variant.policy_path else None,
        "policy_sha256": _sha256(variant.policy_path),
        "seed": seed,
    }


def measure_variant(
    variant: Variant, run_id: str, repeat: int, seed: int, run_dir: Path, options: MeasureOptions | None = None
) -> VariantResult:
    """Run one variant; failures are recorded in the result, never raised (except Ctrl-C)."""
    options = options or MeasureOptions()
    backend = for_variant(variant, options)
    split = cpu_split(options.pin_cpus) if backend.pins_control_plane else None
    meta = base_metadata(backend, variant, seed, split)
    meta["started_at"] = store.utc_now()
    scratch = Path(tempfile.mkdtemp(prefix=f"auditbench-{variant.id}-r{repeat}-", dir=options.scratch_root))
    keep = options.keep_scratch  # this variant's decision only: a failure keeps its own scratch
    doc: dict[str, Any] = {
        "run_id": run_id, "variant_id": variant.id, "repeat": repeat, "status": "ok",
        "variant": variant.spec_dict(), "metadata": meta,
    }
    try:
        doc.update(run_measured(variant, backend, scratch, run_dir, repeat, seed, split, options))
        meta["apiserver_flags"] = doc.pop("apiserver_flags")
        meta["cpu_lists"] = doc.pop("cpu_lists")
        meta["nice"] = doc.pop("nice")
        judge(doc, options.max_error_rate)
        if doc["status"] != "ok":
            options.echo(f"[red]{variant.id} r{repeat} {doc['status']}:[/red] {doc.get('error') or '; '.join(doc['flags'])}")
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # recorded, the matrix goes on
        doc["status"] = "failed"
        doc["error"] = f"{type(exc).__name__}: {exc}"
        (scratch / "error.txt").write_text(traceback.format_exc())
        options.echo(f"[red]variant {variant.id} r{repeat} failed:[/red] {doc['error']} (details: {scratch / 'error.txt'})")
        keep = True
    finally:
        meta.update(backend.run_metadata())  # kind's node image, an external cluster's version: also on failure
        meta["ended_at"] = store.utc_now()
        if not keep:
            shutil.rmtree(scratch, ignore_errors=True)
            if options.audit_log_dir is not None:
                shutil.rmtree(options.audit_log_dir / scratch.name, ignore_errors=True)
    try:
        return VariantResult.model_validate(doc)
    except ValueError as exc:  # a measurement that does not fit the schema is a failed variant, not a crash
        (scratch.parent / f"{scratch.name}-invalid.json").write_text(repr(doc))
        kept = {k: doc[k] for k in ("run_id", "variant_id", "repeat", "variant", "metadata")}
        return VariantResult.model_validate({**kept, "status": "failed", "error": f"result did not validate: {exc}"})


def _on_edge(ctx: Context, measurements: list[BaseMeasurement], errors: list[str]) -> Any:
    def on_edge(edge: str) -> None:
        ctx.edges[edge] = time.time()
        for m in measurements:
            try:
                m.edge(ctx, edge)
            except Exception as exc:  # one measurement's miss must not cost the others their edge
                errors.append(f"{m.name} at the {edge} edge: {type(exc).__name__}: {exc}")
    return on_edge


def run_measured(variant: Variant, backend: Backend, scratch: Path, run_dir: Path, repeat: int, seed: int,
                 split: tuple[set[int], set[int]] | None, options: MeasureOptions) -> dict[str, Any]:
    from bench.traffic.launcher import run_traffic

    cp_cpus, load_cpus = split if split else (None, None)
    nice = measured_nice() if options.priority else None
    cluster = backend.at(scratch, cp_cpus, nice)
    receiver = cluster.start_receiver(variant, scratch, seed, load_cpus)
    ctx = Context(variant=variant, scratch=scratch, seed=seed, receiver=receiver, canary_file=scratch / "canaries.txt")
    measurements = create(measurements_for(MEASUREMENTS, cluster.capabilities()))
    errors: list[str] = []
    samples_tmp = scratch / "samples.csv.gz"
    try:
        with cluster:
            ctx.cluster = cluster
            options.echo(f"  cluster ready in {cluster.ready_s:.1f}s; traffic {variant.profile} "
                         f"({variant.load.mode}) for {variant.load.duration_s}s after {variant.load.warmup_s}s warm-up")
            for m in measurements:
                m.start(ctx)
            try:
                ctx.traffic = run_traffic(
                    cluster.cluster_info(),
                    variant.profile, variant.load.mode, variant.load.users, variant.load.target_rps,
                    variant.load.duration_s or 30.0, variant.load.warmup_s, seed, samples_tmp, ctx.canary_file,
                    workers=options.workers, cpus=load_cpus, max_requests=variant.load.requests,
                    work_dir=scratch / "locust", on_edge=_on_edge(ctx, measurements, errors),
                    schedule=variant.load.schedule, nice=nice, objects=variant.load.objects, nodes=variant.load.nodes,
                    **({"profiles_file": Path(variant.load.profiles_file)} if variant.load.profiles_file else {}),
                    **cluster.traffic_options(),
                )
            finally:
                for m in measurements:
                    _guarded(errors, m.name, "stop", m.stop, ctx)
                ctx.stop.died_during_run = cluster.died()
            apiserver_flags = cluster.apiserver_flags()
        # Cluster stopped: a local apiserver flushed its audit backends on SIGTERM.
        ctx.stop.exits = cluster.exit_records()
        ctx.stop.sigterm_at = cluster.sigterm_at
        if receiver is not None:
            receiver.stop()
        doc = collect(ctx, measurements, errors)
        doc["apiserver_flags"] = apiserver_flags
        doc["nice"] = nice
        if cluster.audit_log_path is not None and ctx.window is not None:
            # A RequestResponse-for-everything log: coverage and what-if replay it later.
            from bench.logs import capture
            from bench.logs.reader import log_files

            capture.keep(log_files(cluster.audit_log_path), variant.policy_path, (ctx.window.start, ctx.window.end),
                         run_dir, variant.id, repeat)
        if samples_tmp.exists():
            rel = store.samples_file(variant.id, repeat)
            atomic.write_bytes(run_dir / rel, samples_tmp.read_bytes())
            doc["samples_file"] = rel
        return doc
    finally:
        cluster.stop()
        if receiver is not None:
            receiver.stop()


def _guarded(errors: list[str], name: str, step: str, fn: Any, ctx: Context) -> Any:
    try:
        return fn(ctx)
    except Exception as exc:
        errors.append(f"{name} {step}: {type(exc).__name__}: {exc}")
        return {}


def collect(ctx: Context, measurements: list[BaseMeasurement], errors: list[str]) -> dict[str, Any]:
    """Every measurement's figures over the window, assembled into the result's sections."""
    t = ctx.traffic
    if "start" not in ctx.edges or "end" not in ctx.edges:
        raise RuntimeError(f"the window edges were not reached (edges {sorted(ctx.edges)}; "
                           f"{t.edge_error or 'Locust never started recording'})")
    ctx.window = Window(ctx.edges["start"], ctx.edges["end"])
    got: dict[str, dict[str, Any]] = {}
    for m in sorted(measurements, key=lambda m: ("client", "apiserver_metrics").index(m.name)
                    if m.name in ("client", "apiserver_metrics") else 2):
        got[m.name] = _guarded(errors, m.name, "collect", m.collect, ctx)
        if m.name == "client":
            ctx.requests_in_window = got["client"].get("requests")
        if m.name == "apiserver_metrics" and got["apiserver_metrics"].get("bracket"):
            b = got["apiserver_metrics"]["bracket"]
            ctx.bracket = (b["start"], b["end"])
    return assemble(ctx, got, errors)


def edge_events(audit: dict[str, Any] | None, bracket: dict[str, Any]) -> float:
    """Events the apiserver generated while the two edge scrapes could have read its counters
    (from sending each scrape to its response headers): the reconciliation's clock slack."""
    if not audit or not bracket or not bracket.get("read_after_ms"):
        return 0.0
    span = bracket["end"] - bracket["start"]
    rate = (audit.get("event_total") or 0) / span if span > 0 else 0.0
    return rate * sum(bracket["read_after_ms"]) / 1000.0


def _per_request(value: float | None, requests: int | None, scale: float = 1.0) -> float | None:
    return value / requests * scale if value is not None and requests else None


def assemble(ctx: Context, got: dict[str, dict[str, Any]], errors: list[str]) -> dict[str, Any]:
    assert ctx.window is not None
    w, t = ctx.window, ctx.traffic
    cl, srv, proc = got.get("client", {}), got.get("apiserver_metrics", {}), got.get("process", {})
    requests = cl.get("requests")
    bracket = srv.get("bracket") or {}
    # Server counters span the bracket; per request they are scaled to the window's length.
    span = (bracket["end"] - bracket["start"]) if bracket else None
    bracket_requests = requests * span / w.duration_s if requests and span else None
    api_proc, etcd_proc = proc.get("apiserver", {}), proc.get("etcd", {})
    api_srv = srv.get("apiserver", {})
    # An apiserver that is not this machine's process: its own process_cpu_seconds_total,
    # which spans the /metrics bracket (scaled per request like the allocations).
    cpu_source = "proc" if "process" in got else ("metrics" if api_srv.get("cpu_seconds") is not None else None)
    cpu, cpu_requests = (api_proc.get("cpu_seconds"), requests) if cpu_source == "proc" else (api_srv.get("cpu_seconds"), bracket_requests)
    exits = ctx.stop.exits
    log, wh = got.get("audit_log") or None, got.get("webhook") or None
    v = ctx.variant
    rec = reconcile.reconcile(srv.get("audit"), srv.get("audit_after_window"), log, wh,
                              v.log.mode if v.log else None, v.webhook.mode if v.webhook else None,
                              edge_events(srv.get("audit"), bracket))
    return {
        "cpu_lists": {name: fig.get("cpus") for name, fig in proc.items()},
        "window": {
            "start": w.start, "end": w.end, "duration_s": round(w.duration_s, 4),
            "recorded_start": t.window_start, "recorded_end": t.window_end,
            "recorded_coverage": round(w.duration_s / (t.window_end - t.window_start), 4) if t.window_end > t.window_start else None,
            "edge_error": t.edge_error or ("; ".join(errors) if errors else None),
        },
        "metrics_bracket": {**bracket, "scrape_errors": srv.get("scrape_errors", [])} if bracket else None,
        "timeseries": srv.get("series", []),
        "traffic": {
            "requests": requests or 0, "failures": cl.get("failures", 0), "error_rate": cl.get("error_rate"),
            "duration_s": round(w.duration_s, 4), "achieved_rps": cl.get("achieved_rps"), "target_rps": cl.get("target_rps"),
            "mode": cl.get("mode"), "users": cl.get("users"), "errors_by_code": cl.get("errors_by_code", {}),
            "loadgen_cpu_seconds": cl.get("loadgen_cpu_seconds"), "loadgen_cpu_util": cl.get("loadgen_cpu_util"),
            "loadgen_cpu_util_max": cl.get("loadgen_cpu_util_max"), "loadgen_saturated": cl.get("loadgen_saturated"),
            "late_slots": cl.get("late_slots"),
            "schedule": ctx.variant.load.schedule if ctx.variant.load.mode == "open" else None,
            "generator_lag_p99_ms": (cl.get("generator_lag_ms") or {}).get("p99_ms"),
        },
        "latency_client": {**cl["latency"], "request_set": cl.get("latency_set"),
                           "from_schedule": cl.get("latency_from_schedule")} if cl.get("latency") else None,
        "latency_server": srv.get("latency_server"),
        "apiserver": {
            "cpu_seconds": cpu, "cpu_source": cpu_source,
            "cpu_ms_per_1k_requests": _per_request(cpu, cpu_requests, 1e6),
            "rss_peak_bytes": api_proc.get("rss_peak_bytes"), "rss_mean_bytes": api_proc.get("rss_mean_bytes"),
            "rss_hwm_bytes": api_proc.get("rss_hwm_bytes"), "rss_end_bytes": api_srv.get("rss_end_bytes"),
            "heap_inuse_peak_bytes": srv.get("heap_inuse_peak_bytes"), "heap_inuse_end_bytes": api_srv.get("heap_inuse_end_bytes"),
            "goroutines_end": api_srv.get("goroutines_end"),
            "alloc_bytes": api_srv.get("alloc_bytes"),
            "alloc_bytes_per_1k_requests": _per_request(api_srv.get("alloc_bytes"), bracket_requests, 1000.0),
            "requests_by_verb_code": api_srv.get("requests_by_verb_code", {}),
            "exit": exits.get("kube-apiserver"),
        },
        "etcd": {"cpu_seconds": etcd_proc.get("cpu_seconds"), "rss_peak_bytes": etcd_proc.get("rss_peak_bytes"),
                 "rss_mean_bytes": etcd_proc.get("rss_mean_bytes"), "exit": exits.get("etcd")},
        "audit": {
            "metrics": srv.get("audit") or {},
            "metrics_after_window": srv.get("audit_after_window"),
            "log": log, "webhook": wh, "reconciliation": rec,
            "canaries": got.get("canaries") or {"checked": 0, "leaked": []},
        },
        "series": got.get("series") or None,
        "growth": got.get("growth") or None,
        "_died": [failure.how_it_ended(n, exits.get(n)) for n in ctx.stop.died_during_run] + [f"{n} (seen exiting by /proc)" for n, f in proc.items() if f.get("exited_during_run")],
        "_errors": errors,
        "_measured": sorted(got),
    }


def judge(doc: dict[str, Any], max_error_rate: float) -> None:
    """Status, error and flags from the figures (see the module docstring)."""
    died, errors, measured = doc.pop("_died"), doc.pop("_errors"), doc.pop("_measured", None)
    flags: list[str] = []
    t = doc["traffic"]
    failed: list[str] = []
    if died:
        failed.append("the control plane died during the run: " + ", ".join(died))
    if not t["requests"]:
        failed.append("no requests in the window")
    elif (t["error_rate"] or 0) > max_error_rate:
        failed.append(f"{t['failures']} of {t['requests']} requests failed ({t['error_rate']:.1%}, bound "
                      f"{max_error_rate:.0%}): {failure.describe_codes(t['errors_by_code'])}")
    leaked = doc["audit"]["canaries"].get("leaked") or []
    api_exit = doc["apiserver"].get("exit") or {}
    if api_exit.get("killed"):
        flags.append("kube-apiserver needed SIGKILL after SIGTERM: its audit backends did not finish flushing")
    flags += reconcile.problems(doc["audit"]["reconciliation"]) + reconcile.losses(doc["audit"]["reconciliation"])
    bracket = doc.get("metrics_bracket")
    if not bracket and measured is not None and "apiserver_metrics" not in measured:
        pass  # /metrics is not readable on this backend: said in the result's metadata, not a flag
    elif not bracket:
        flags.append("no /metrics bracket around the window: server figures missing")
    elif (bracket.get("coverage") or 0) < COVERAGE_MIN:
        flags.append(f"the /metrics bracket covers {bracket['coverage']:.0%} of the window (< {COVERAGE_MIN:.0%})")
    if t.get("loadgen_saturated"):
        flags.append(f"the load generator was saturated (busiest process {t['loadgen_cpu_util_max']:.0%} of a core): "
                     "latency includes client queueing")
    lag = t.get("generator_lag_p99_ms")
    if lag is not None and lag > MAX_LAG_P99_MS:
        flags.append(f"the open-loop generator fell behind its schedule (lag p99 {lag:.0f} ms > {MAX_LAG_P99_MS:.0f} ms): "
                     "the offered rate was lower than the target")
    flags += [f"measurement error: {e}" for e in errors]
    doc["flags"] = flags
    if failed:
        doc["status"], doc["error"] = "failed", "; ".join(failed)
        failure.withhold(doc)  # the evidence stays, no figure that reads as a measurement
    elif leaked:
        doc["status"] = "leaked"
        doc["error"] = (f"SECRET VALUES LEAKED into the audit output of {doc['variant_id']}: {'; '.join(leaked)} — "
                        f"policy {doc['variant']['policy']} logs secrets at Request or RequestResponse")
    elif flags:
        doc["status"] = "flagged"
