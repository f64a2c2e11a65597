"""`auditbench harness bench`: is the harness fast and light enough not to be what it measures?

Three figures, each from a real run on this machine:

- **Load-generator ceiling vs apiserver saturation.** The real traffic (same locustfile, TLS,
  tokens, per-request samples) against a trivial loopback HTTPS endpoint in its own process
  gives the generator's requests/s per CPU-second of Locust; the same traffic closed-loop
  against a real local control plane (no audit: the fastest apiserver, so the hardest case)
  gives the apiserver's saturation rate. Goal: the first at least 5x the second, so one
  load-side core drives the control plane with room to spare.
- **The harness's own CPU** (this orchestrator process: every thread, no children) during the
  traffic window of a real open-loop variant at about 1,000 req/s. Goal: at most 10% of one
  core besides Locust.
- **Start-to-ready** of the local backend (the `controlplane bench` loop).

Figures are returned as plain dicts; the CLI prints them.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.controlplane import pki
from bench.controlplane.audit import AuditSettings
from bench.controlplane.build import Binaries
from bench.controlplane.identities import IDENTITIES, with_tokens, write_identities_json
from bench.controlplane.local import LocalCluster
from bench.controlplane.ports import free_ports
from bench.controlplane.procs import Child
from bench.errors import EnvironmentProblem
from bench.measure.procstat import read_tree
from bench.traffic.launcher import ClusterInfo, TrafficResult, run_traffic

PROFILE = "read-heavy"  # GETs, LISTs and watches: what the trivial endpoint can answer


class CpuSeries:
    """Samples a CPU-seconds counter with wall time on a daemon thread, to read it over any window."""

    def __init__(self, read: Callable[[], float | None], interval: float = 0.2) -> None:
        self._read, self._interval = read, interval
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="harness-bench-cpu")

    def _take(self) -> None:
        value = self._read()
        if value is not None:
            self.samples.append((time.time(), value))

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._take()

    def __enter__(self) -> CpuSeries:
        self._take()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._take()

    def between(self, start: float, end: float) -> float:
        """CPU seconds spent in [start, end], interpolated between samples."""
        if len(self.samples) < 2:
            raise ValueError("too few CPU samples")
        ts = np.array([s[0] for s in self.samples])
        cs = np.array([s[1] for s in self.samples])
        return float(np.interp(end, ts, cs) - np.interp(start, ts, cs))


def _tree_cpu(pid: int) -> Callable[[], float | None]:
    def read() -> float | None:
        sample = read_tree(pid)
        return sample.cpu_seconds if sample else None
    return read


def _traffic(result: TrafficResult) -> dict[str, Any]:
    window = result.window_end - result.window_start
    return {
        "requests": result.requests, "failures": result.failures, "window_s": round(window, 2),
        "achieved_rps": round(result.achieved_rps, 1), "users": result.users,
        "loadgen_cpu_s": round(result.loadgen_cpu_seconds, 2),
        "loadgen_cores": round(result.loadgen_cpu_seconds / window, 3) if window > 0 else None,
        "rps_per_loadgen_core": round(result.requests / result.loadgen_cpu_seconds) if result.loadgen_cpu_seconds else None,
        "loadgen_saturated": result.loadgen_saturated,
    }


def _wait_for_line(child: Child, log: Path, word: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.running():
            raise EnvironmentProblem(f"{child.name} exited before it was ready", f"see {log}")
        if log.is_file() and word in log.read_text(errors="replace"):
            return
        time.sleep(0.05)
    raise EnvironmentProblem(f"{child.name} not ready after {timeout:.0f}s", f"see {log}")


def loadgen_ceiling(duration_s: float, users: int, load_cpus: set[int] | None,
                    endpoint_cpus: set[int] | None) -> dict[str, Any]:
    """The traffic generator against the trivial endpoint: requests per Locust CPU-second."""
    with tempfile.TemporaryDirectory(prefix="auditbench-harness-bench-") as tmp:
        d = Path(tmp)
        ca = pki.make_ca("auditbench-endpoint-ca")
        ca_file, _ = pki.write_pair(d / "pki", "ca", ca)
        cert, key = pki.write_pair(d / "pki", "endpoint", pki.issue(ca, "endpoint", dns=("localhost",),
                                                                      ips=("127.0.0.1",), server=True))
        identities = write_identities_json(d / "identities.json", with_tokens(IDENTITIES))
        (port,) = free_ports(1)
        log = d / "endpoint.log"
        endpoint = Child("endpoint", [sys.executable, "-m", "bench.harness.endpoint", str(port), str(cert), str(key)],
                         log, cpus=endpoint_cpus).start()
        try:
            _wait_for_line(endpoint, log, "ready")
            with CpuSeries(_tree_cpu(endpoint.pid)) as endpoint_cpu:
                result = run_traffic(ClusterInfo(f"https://127.0.0.1:{port}", ca_file, identities), PROFILE, "closed",
                                     users, None, duration_s, 1.0, 1, d / "samples.csv.gz", d / "canaries.txt",
                                     cpus=load_cpus, work_dir=d / "locust")
        finally:
            endpoint.stop(grace=5.0)
    figures = _traffic(result)
    figures["endpoint_cores"] = round(endpoint_cpu.between(result.window_start, result.window_end)
                                      / max(result.window_end - result.window_start, 1e-9), 3)
    return figures


def apiserver_saturation(bins: Binaries, duration_s: float, users: int,
                         split: tuple[set[int], set[int]] | None) -> dict[str, Any]:
    """The same traffic closed-loop against a real control plane without auditing."""
    cp, load = split if split else (None, None)
    with tempfile.TemporaryDirectory(prefix="auditbench-harness-bench-") as tmp, \
            LocalCluster(audit=AuditSettings(), binaries=bins, control_plane_cpus=cp) as cluster:
        d = Path(tmp)
        with CpuSeries(_tree_cpu(cluster.apiserver.pid)) as api, CpuSeries(_tree_cpu(cluster.etcd.pid)) as etcd:
            result = run_traffic(ClusterInfo.from_local(cluster), PROFILE, "closed", users, None, duration_s, 2.0, 1,
                                 d / "samples.csv.gz", d / "canaries.txt", cpus=load, work_dir=d / "locust")
    figures = _traffic(result)
    window = max(result.window_end - result.window_start, 1e-9)
    figures["apiserver_cores"] = round(api.between(result.window_start, result.window_end) / window, 3)
    figures["etcd_cores"] = round(etcd.between(result.window_start, result.window_end) / window, 3)
    figures["control_plane_cpus"] = len(cp) if cp else os.cpu_count()
    # Requests per CPU-second of apiserver + etcd: what one control-plane core serves when it has
    # the core to itself, robust to other processes taking turns on it (a shared machine).
    used = figures["apiserver_cores"] + figures["etcd_cores"]
    figures["rps_per_control_plane_core"] = round(result.achieved_rps / used) if used else None
    return figures


def harness_cpu(bins: Binaries, rate: float, duration_s: float, pin: bool) -> dict[str, Any]:
    """This process's own CPU (all threads, not its children) while a real variant runs open-loop."""
    from bench.measure.variant import MeasureOptions, measure_variant
    from bench.results import store
    from bench.scenario.loader import parse_scenario
    from bench.scenario.matrix import expand

    doc = {"name": "harness-bench", "policies": ["seed-production"], "baseline": False,
           "traffic": {"profiles": [PROFILE], "mode": "open", "target_rps": rate,
                       "duration": f"{duration_s:g}s", "warmup": "2s"}}
    (variant,) = expand(parse_scenario(doc))
    with tempfile.TemporaryDirectory(prefix="auditbench-harness-bench-") as tmp:
        d = Path(tmp)
        options = MeasureOptions(bin_dir=None, pin_cpus=pin, echo=lambda _m: None, scratch_root=d)
        started, cpu0 = time.time(), time.process_time()
        with CpuSeries(time.process_time) as own:
            result = measure_variant(variant, "harness-bench", 1, 1, d, options)
        wall, cpu = time.time() - started, time.process_time() - cpu0
        if result.status != "ok":
            raise EnvironmentProblem(f"the {rate:g} req/s variant did not finish: {result.status} {result.error or ''}")
        samples = store.read_samples(d, variant.id, 1)
    start, end = float(samples["t"].min()), float(samples["t"].max())
    in_window = own.between(start, end)
    traffic = result.traffic
    return {
        "target_rps": rate, "achieved_rps": round(traffic.achieved_rps, 1) if traffic else None,
        "requests": traffic.requests if traffic else None, "window_s": round(end - start, 2),
        "harness_cpu_s": round(in_window, 3), "harness_cores": round(in_window / (end - start), 4),
        "loadgen_cores": round(traffic.loadgen_cpu_seconds / (end - start), 3) if traffic else None,
        "variant_wall_s": round(wall, 1), "variant_harness_cpu_s": round(cpu, 2),
    }
