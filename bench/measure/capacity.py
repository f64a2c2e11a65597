"""Capacity probe on a real cluster: short open-loop steps on one cluster with the variant's
audit flags, searched by bench.analysis.probe.

Each step is a full traffic run (set-up, warm-up, window, tear-down) at one offered rate.
The generator's concurrency budget (bench.traffic.launcher.OPEN_LOOP_BUDGET_S) allows a mean latency of that much per request;
past that it cannot keep the schedule, which counts against the step as it should (the
server is no longer keeping up). A step whose load generator was saturated says so: the
capacity found is then a lower bound set by the client, not the server.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from bench.analysis import probe
from bench.controlplane.build import Binaries
from bench.controlplane.local import LocalCluster
from bench.measure.settings import audit_settings
from bench.scenario.matrix import Variant
from bench.traffic import samples
from bench.traffic.catalog import slo_classes

def step_figures(df: Any, target: float, duration_s: float, slo_s: float) -> probe.Step:
    """A step's verdict from its raw samples (the recorded window)."""
    requests = len(df)
    ok = df[df["ok"] == 1]
    slo = ok[ok["cls"].isin(slo_classes())]
    p99 = float((slo["ms"] + slo["lag_ms"]).quantile(0.99)) if len(slo) else None
    error_rate = (requests - len(ok)) / requests if requests else 1.0
    return probe.judge(target, requests / duration_s if duration_s > 0 else 0.0, p99, error_rate, slo_s)


def probe_variant(variant: Variant, bins: Binaries, settings: Any, seed: int, scratch: Path,
                  split: tuple[set[int], set[int]] | None, echo: Any = print, nice: int | None = None) -> dict[str, Any]:
    """``settings``: bench.scenario.model.CapacityProbe. Returns ProbeResult.as_dict()."""
    from bench.traffic.launcher import ClusterInfo, run_traffic
    from bench.webhook.receiver import Receiver

    cp_cpus, load_cpus = split if split else (None, None)
    receiver = None
    if variant.webhook is not None and variant.policy_path is not None:
        receiver = Receiver.start_in(scratch / "webhook", cpus=load_cpus, nice=nice)
    cluster = LocalCluster(audit=audit_settings(variant), binaries=bins, run_dir=scratch / "cluster",
                           webhook_kubeconfig=receiver.kubeconfig_path if receiver else None,
                           control_plane_cpus=cp_cpus, nice=nice)
    saturated: list[float] = []
    try:
        with cluster:
            info = ClusterInfo(cluster.server, cluster.ca_file, cluster.identities_file)

            def run_step(rate: float) -> probe.Step:
                work = scratch / f"step-{rate:.0f}"
                t = run_traffic(info, variant.profile, "open", None, rate,
                                settings.step_duration, settings.step_warmup, seed, work / "samples.csv.gz",
                                work / "canaries.txt", cpus=load_cpus, work_dir=work / "locust", nice=nice)
                step = step_figures(samples.read_samples([t.samples_path]), rate, t.duration_s, settings.slo)
                if t.loadgen_saturated:
                    saturated.append(rate)
                shutil.rmtree(work, ignore_errors=True)
                echo(f"  capacity step {rate:.0f} req/s: {'pass' if step.passed else 'fail: ' + step.reason}")
                return step

            result = probe.search(run_step, settings.start_rps, settings.max_rps, settings.slo, settings.precision)
    finally:
        cluster.stop()
        if receiver is not None:
            receiver.stop()
    doc = result.as_dict()
    if saturated:
        doc["note"] = (doc["note"] + "; " if doc["note"] else "") + (
            f"the load generator was saturated at {', '.join(f'{r:.0f}' for r in saturated)} req/s: "
            "a capacity there is the client's limit, not the server's")
    return doc
