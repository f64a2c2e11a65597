"""One variant's measured window on a live local cluster (called by bench.measure.variant).

/metrics is scraped every few seconds during the traffic (each scrape costs the apiserver
about 30 ms of CPU, so not every second), and the server-side deltas use the snapshots that
lie inside the client's measured window; /proc is sampled every second and interpolated at
the window's edges.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.controlplane.audit import AuditSettings
from bench.controlplane.build import Binaries
from bench.controlplane.local import LocalCluster
from bench.measure.procstat import ProcSampler
from bench import atomic
from bench.results import store
from bench.scenario.matrix import Variant

SCRAPE_INTERVAL_S = 5.0


class MetricsRecorder:
    """Raw /metrics snapshots [(unix t, text)] on a daemon thread; parsing is deferred."""

    def __init__(self, cluster: LocalCluster, interval: float = SCRAPE_INTERVAL_S) -> None:
        self.client = cluster.client("prometheus", timeout=10.0)
        self.interval = interval
        self.snapshots: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="metrics-scraper")

    def scrape(self) -> None:
        t = time.time()
        resp = self.client.get("/metrics")
        if resp.status == 200:
            self.snapshots.append((t, resp.body.decode()))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.scrape()
            except Exception:  # a missed scrape only widens the bracket
                pass

    def start(self) -> MetricsRecorder:
        self.scrape()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        try:
            self.scrape()
        except Exception:  # runs in a finally: never mask the error that got us here
            pass
        self.client.close()

    def bracket(self, start: float, end: float) -> tuple[tuple[float, str], tuple[float, str]]:
        """The widest pair of snapshots inside [start, end]; the outermost ones if none fit."""
        inside = [s for s in self.snapshots if start <= s[0] <= end]
        if len(inside) >= 2:
            return inside[0], inside[-1]
        return self.snapshots[0], self.snapshots[-1]


def interp_counter(samples: list[list[float]], t: float, col: int) -> float:
    ts = np.array([s[0] for s in samples])
    vs = np.array([s[col] for s in samples])
    return float(np.interp(t, ts, vs))


def proc_window(series: dict[str, Any], start: float, end: float) -> dict[str, Any]:
    """CPU seconds inside the window (interpolated) and peak RSS of samples in it."""
    samples = series.get("samples") or []
    if len(samples) < 2:
        return {"cpu_seconds": None, "rss_peak_bytes": series.get("rss_peak_bytes")}
    cpu = interp_counter(samples, end, 1) - interp_counter(samples, start, 1)
    rss = [s[2] for s in samples if start - 1 <= s[0] <= end + 1] or [s[2] for s in samples]
    return {"cpu_seconds": cpu, "rss_peak_bytes": int(max(rss)), "rss_end_bytes": int(samples[-1][2])}


def measure_window(variant: Variant, settings: AuditSettings, bins: Binaries, scratch: Path, run_dir: Path,
                   repeat: int, seed: int, split: tuple[set[int], set[int]] | None, options: Any) -> dict[str, Any]:
    from bench.measure import apimetrics
    from bench.measure.variant import canary_section, log_section
    from bench.measure.webhook import Faults, Receiver
    from bench.traffic.launcher import ClusterInfo, run_traffic

    cp_cpus, load_cpus = split if split else (None, None)
    receiver = None
    wh = variant.webhook
    if wh is not None and variant.policy_path is not None:
        down_after = None
        if wh.receiver_down_for_s:
            down_after = variant.load.warmup_s + (variant.load.duration_s or 30.0) / 3
        faults = Faults(delay_ms=wh.receiver_delay_ms, error_rate=wh.receiver_error_rate, seed=seed,
                        down_after_s=down_after, down_for_s=wh.receiver_down_for_s)
        receiver = Receiver.start_in(scratch / "webhook", faults, cpus=load_cpus)
    cluster = LocalCluster(audit=settings, binaries=bins, run_dir=scratch / "cluster",
                           webhook_kubeconfig=receiver.kubeconfig_path if receiver else None,
                           control_plane_cpus=cp_cpus)
    samples_tmp = scratch / "samples.csv.gz"
    canary_file = scratch / "canaries.txt"
    try:
        with cluster:
            options.echo(f"  cluster ready in {cluster.timings.total_s:.1f}s; traffic {variant.profile} "
                         f"({variant.load.mode}) for {variant.load.duration_s}s after {variant.load.warmup_s}s warm-up")
            recorder = MetricsRecorder(cluster).start()
            sampler_t0 = time.time()  # the sampler's t is seconds since its start
            sampler = ProcSampler({"apiserver": cluster.apiserver.pid, "etcd": cluster.etcd.pid}).start()
            try:
                traffic = run_traffic(
                    ClusterInfo(cluster.server, cluster.ca_file, cluster.identities_file),
                    variant.profile, variant.load.mode, variant.load.users, variant.load.target_rps,
                    variant.load.duration_s or 30.0, variant.load.warmup_s, seed, samples_tmp, canary_file,
                    workers=options.workers, cpus=load_cpus, max_requests=variant.load.requests,
                    work_dir=scratch / "locust",
                )
            finally:
                procs = sampler.stop()
                recorder.stop()
            apiserver_flags = list(cluster.apiserver_argv[1:])
        # Cluster stopped: the apiserver flushed its audit backends on SIGTERM.
        webhook_stats = receiver.stop() if receiver else None
        window = (traffic.window_start, traffic.window_end)
        first, last = recorder.bracket(*window)
        server = apimetrics.summarize(apimetrics.parse_metrics(first[1], first[0]), apimetrics.parse_metrics(last[1], last[0]))
        # Audit counters (drops above all) over the whole traffic run, not only the window.
        whole = apimetrics.audit_metrics(apimetrics.parse_metrics(*reversed(recorder.snapshots[0])),
                                         apimetrics.parse_metrics(*reversed(recorder.snapshots[-1])))
        rel = (window[0] - sampler_t0, window[1] - sampler_t0)
        api_proc = proc_window(procs["apiserver"], *rel)
        etcd_proc = proc_window(procs["etcd"], *rel)
        requests = traffic.requests
        per_1k = (lambda x: x / requests * 1000.0) if requests else (lambda x: None)
        alloc = server["apiserver"].get("alloc_bytes")
        # Server counters cover the snapshot bracket, not the exact window; scale per request
        # with the server's own request count over the same bracket.
        bracket_requests = sum(n for codes in server["apiserver"].get("requests_by_verb_code", {}).values() for n in codes.values())
        doc: dict[str, Any] = {
            "apiserver_flags": apiserver_flags,
            "traffic": {
                "requests": traffic.requests, "failures": traffic.failures, "duration_s": traffic.duration_s,
                "achieved_rps": traffic.achieved_rps, "target_rps": traffic.target_rps,
                "errors_by_code": traffic.errors_by_code, "loadgen_cpu_seconds": traffic.loadgen_cpu_seconds,
                "loadgen_cpu_util": traffic.loadgen_cpu_util,
            },
            "latency_client": traffic.latency,
            "latency_server": server["latency_server"],
            "apiserver": {
                "cpu_seconds": api_proc["cpu_seconds"],
                "cpu_ms_per_1k_requests": per_1k(api_proc["cpu_seconds"] * 1000.0) if api_proc["cpu_seconds"] is not None else None,
                "rss_peak_bytes": api_proc["rss_peak_bytes"],
                "rss_end_bytes": api_proc.get("rss_end_bytes"),
                "alloc_bytes": alloc,
                "alloc_bytes_per_1k_requests": (alloc / bracket_requests * 1000.0) if alloc is not None and bracket_requests else None,
                "requests_by_verb_code": server["apiserver"].get("requests_by_verb_code", {}),
            },
            "etcd": {"cpu_seconds": etcd_proc["cpu_seconds"], "rss_peak_bytes": etcd_proc["rss_peak_bytes"]},
            "audit": {
                "metrics": whole,
                "log": log_section(cluster.audit_log_path, window, requests, variant.policy_path),
                "webhook": _webhook_section(webhook_stats),
                "canaries": canary_section(canary_file, cluster, receiver.capture_path if receiver else None),
            },
        }
        if cluster.audit_log_path is not None:  # a RequestResponse-for-everything log: coverage replays it
            from bench.logs import capture
            from bench.measure.auditlog import log_files

            capture.keep(log_files(cluster.audit_log_path), variant.policy_path, window, run_dir, variant.id, repeat)
        if samples_tmp.exists():
            rel = store.samples_file(variant.id, repeat)
            atomic.write_bytes(run_dir / rel, samples_tmp.read_bytes())
            doc["samples_file"] = rel
        return doc
    finally:
        cluster.stop()
        if receiver is not None:
            receiver.stop()


def _webhook_section(stats: dict[str, Any] | None) -> dict[str, Any] | None:
    if stats is None:
        return None
    keep = ("enabled", "batches", "events", "bytes", "events_per_batch", "lag_ms", "by_level", "by_stage", "http_errors")
    out = {k: stats[k] for k in keep if k in stats}
    first, last = stats.get("first_arrival"), stats.get("last_arrival")
    out["delivery_span_s"] = (last - first) if first and last and last > first else None
    return out
