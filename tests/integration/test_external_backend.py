"""The external backend against a real cluster it does not own.

The "foreign" cluster is a real local control plane started here, apart from the harness,
the way an operator runs theirs: its own audit policy (the article's), a log backend, and a
webhook pointed at a receiver directory made with `auditbench external receiver`. auditbench
gets only what a user of a staging cluster would have: a kubeconfig (the admin's, or bob's,
who may do much less), the log path, the receiver directory. Everything runs on loopback.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.backends.external import ReceiverSpec, write_receiver_dir
from bench.controlplane.audit import AuditSettings, BatchSettings, LogBackend, WebhookBackend
from bench.controlplane.kubeconfig import write_admin_kubeconfig
from bench.controlplane.local import LocalCluster
from bench.controlplane.ports import free_ports
from bench.traffic.catalog import CLASSES
from bench.traffic.samples import read_samples
from tests.cliutil import DEFAULT_SIGINT, entry_point, run_cli
from tests.integration.conftest import policy_path

pytestmark = pytest.mark.integration

SHORT = ["--profile", "mixed", "--users", "4", "--duration", "8s", "--warmup", "1s"]


@dataclass
class Foreign:
    cluster: LocalCluster
    receiver: ReceiverSpec

    @property
    def kubeconfig(self) -> Path:
        return self.cluster.kubeconfig

    def owned(self) -> dict[str, list[str]]:
        """Objects named like a run's (ab-<hex>-...) still in the cluster, by kind."""
        client = self.cluster.client()
        try:
            out = {}
            for kind, path in (("namespaces", "/api/v1/namespaces"), ("nodes", "/api/v1/nodes"),
                               ("clusterrolebindings", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings")):
                items = client.get(path).json()["items"]
                out[kind] = [i["metadata"]["name"] for i in items if i["metadata"]["name"].startswith("ab-")]
            return out
        finally:
            client.close()


@pytest.fixture(scope="module")
def foreign(binaries, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Foreign]:
    base = tmp_path_factory.mktemp("foreign")
    (port,) = free_ports(1)
    spec = write_receiver_dir(base / "receiver", "127.0.0.1", port)
    settings = AuditSettings(policy=policy_path("seed-production"), log=LogBackend(enabled=True),
                             webhook=WebhookBackend(enabled=True, batch=BatchSettings(max_wait="1s")))
    with LocalCluster(audit=settings, binaries=binaries, run_dir=base / "cluster",
                      webhook_kubeconfig=spec.kubeconfig) as cluster:
        yield Foreign(cluster, spec)


def _env(tmp_path: Path) -> dict[str, str]:
    return {"AUDITBENCH_RESULTS_DIR": str(tmp_path / "results"), "COLUMNS": "250"}


def _result(proc: subprocess.CompletedProcess[str]) -> dict:
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-3000:])
    return json.loads(proc.stdout)


def test_measures_a_foreign_cluster_as_configured(foreign: Foreign, tmp_path: Path) -> None:
    assert foreign.cluster.audit_log_path is not None
    proc = run_cli("measure", "--backend", "external", "--kubeconfig", str(foreign.kubeconfig),
                   "--audit-log", str(foreign.cluster.audit_log_path), "--webhook-receiver", str(foreign.receiver.directory),
                   "--cluster-scoped-writes", *SHORT, "--format", "json", env=_env(tmp_path), timeout=300)
    r = _result(proc)
    # the preflight table went to stderr, before any traffic
    for row in ("traffic classes", "/metrics", "audit log", "webhook → receiver", "apiserver CPU from /proc"):
        assert row in proc.stderr, row
    n = len(CLASSES)
    assert f"{n} of {n} may be sent" in proc.stderr  # the admin may do everything; cluster-scoped writes opted in
    assert r["status"] == "ok", (r["status"], r.get("error"), r["flags"])
    meta = r["metadata"]
    version = foreign.cluster.binaries.kubernetes_version  # type: ignore[union-attr]
    assert meta["backend"] == "external" and meta["server_version"] == version
    assert r["variant"]["policy"] == "as-configured" and r["variant"]["audit"]["as_configured"] is True
    assert meta["policy_file"] is None and meta["apiserver_flags"] == [] and meta["cpu_pinning"] is None
    info = meta["backend_info"]
    assert info["audit_settings"].startswith("as configured")
    assert info["preflight"]["identities"].startswith("all traffic as auditbench-admin")
    token = foreign.cluster.identity("admin").token
    assert token not in proc.stdout + proc.stderr
    for f in (tmp_path / "results").rglob("*"):  # results and samples never hold the credentials
        assert not f.is_file() or token.encode() not in f.read_bytes(), f
    # figures: from /metrics, the log and the receiver; nothing from /proc
    assert r["apiserver"]["cpu_source"] == "metrics" and r["apiserver"]["cpu_seconds"] > 0
    assert r["apiserver"]["rss_hwm_bytes"] is None and r["etcd"]["cpu_seconds"] is None
    assert r["metrics_bracket"]["labels"] == ["start", "end"]
    log, wh = r["audit"]["log"], r["audit"]["webhook"]
    assert log["origin"]["traffic"]["events"] > 100 and log["bytes_per_request"] > 0
    assert wh["events"] > 100 and wh["flushed_at_shutdown"]["events"] == 0  # never stopped: nothing flushed
    for backend, rec in r["audit"]["reconciliation"].items():
        assert rec["reconciles"], (backend, rec)
    assert r["audit"]["canaries"]["checked"] > 0 and not r["audit"]["canaries"]["leaked"]
    caught_up = info["sinks_caught_up"]
    assert caught_up["webhook_s"] is not None and caught_up["log_s"] is not None
    # the run's objects are gone, and the cluster's own are untouched
    assert info["cleanup"]["namespaces_left"] == {} and info["cleanup"]["deleted"]["namespaces"] >= 4
    assert foreign.owned() == {"namespaces": [], "nodes": [], "clusterrolebindings": []}
    assert foreign.cluster.apiserver.running()
    print(f"external: {r['traffic']['achieved_rps']:.0f} req/s, p99 {r['latency_client']['overall']['p99_ms']:.1f} ms, "
          f"apiserver {r['apiserver']['cpu_ms_per_1k_requests']:.0f} CPU-ms/1k (metrics), "
          f"{log['bytes_per_request']:.0f} audit B/req, {wh['batches']} batches")


def _bob_kubeconfig(foreign: Foreign, tmp_path: Path) -> Path:
    return write_admin_kubeconfig(tmp_path / "bob.kubeconfig", foreign.cluster.server, foreign.cluster.ca_file,
                                  foreign.cluster.identity("bob").token, user="bob")


def test_a_restricted_user_sends_only_what_it_may(foreign: Foreign, tmp_path: Path) -> None:
    kc = _bob_kubeconfig(foreign, tmp_path)
    proc = run_cli("measure", "--backend", "external", "--kubeconfig", str(kc), "--audit-log",
                   str(foreign.cluster.audit_log_path), *SHORT, "--format", "json", env=_env(tmp_path), timeout=300)
    r = _result(proc)
    pre = r["metadata"]["backend_info"]["preflight"]
    left = pre["classes_left_out"]
    # bob (developers) may not touch leases or nodes, nor read /metrics
    assert left["leases.update"].startswith("denied: create leases") and "leases" in left["leases.get"]
    assert "nodes.patch" in left and "lease" in pre["seeds_skipped"]
    assert pre["metrics"] is False and pre["username"] == "bob"
    assert "get /metrics denied" in proc.stderr
    # ... so none of that is sent, and what is sent succeeds
    assert r["status"] == "ok", (r.get("error"), r["flags"])
    assert r["traffic"]["failures"] == 0 and r["traffic"]["requests"] > 100
    sent = set(read_samples([tmp_path / "results" / r["run_id"] / r["samples_file"]])["cls"])
    assert not sent & set(left), sent & set(left)
    assert sent & {"secrets.get", "pods.exec", "subjectaccessreviews.create"}
    # without /metrics: no server figures and no flag for their absence
    assert r["metrics_bracket"] is None and r["apiserver"]["cpu_seconds"] is None
    assert r["audit"]["log"]["origin"]["traffic"]["events"] > 0
    assert foreign.owned()["namespaces"] == []




@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 128 + signal.SIGTERM)],
                         ids=["ctrl-c", "sigterm"])
def test_an_interrupt_deletes_the_runs_namespaces(foreign: Foreign, tmp_path: Path, sig: signal.Signals,
                                                  code: int) -> None:
    env = {**os.environ, **_env(tmp_path)}
    harness = subprocess.Popen([*DEFAULT_SIGINT, *entry_point(), "measure", "--backend", "external",
                                "--kubeconfig", str(foreign.kubeconfig),
                                "--profile", "mixed", "--users", "4", "--duration", "120s", "--warmup", "1s"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and len(foreign.owned()["namespaces"]) < 4:
            assert harness.poll() is None, harness.communicate()[0][-3000:]
            time.sleep(0.3)
        created = foreign.owned()["namespaces"]
        assert len(created) >= 4, created
        time.sleep(3)  # traffic under way
        harness.send_signal(sig)
        out, _ = harness.communicate(timeout=180)
    finally:
        if harness.poll() is None:
            harness.kill()
    assert harness.returncode == code, out[-2000:]
    assert "Traceback" not in out and "interrupted" in out
    assert foreign.owned() == {"namespaces": [], "nodes": [], "clusterrolebindings": []}, created


def test_cleanup_deletes_what_a_killed_run_left(foreign: Foreign) -> None:
    # What a SIGKILLed run leaves: its namespaces and a fake node, named with its prefix.
    from bench.traffic import bodies

    prefix, other = "ab-c1ea00", "ab-0ther0"
    client = foreign.cluster.client()
    try:
        for name in (f"{prefix}-production", f"{prefix}-team-a", f"{other}-production"):
            assert client.post("/api/v1/namespaces", bodies.namespace(name)).status == 201
        assert client.post("/api/v1/nodes", bodies.node(f"{prefix}-node-seed-0", inert=True)).status == 201
    finally:
        client.close()
    proc = run_cli("external", "cleanup", "--kubeconfig", str(foreign.kubeconfig), "--prefix", prefix, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert "2 namespaces" in proc.stdout and "1 nodes" in proc.stdout, proc.stdout
    left = foreign.owned()
    assert left["namespaces"] == [f"{other}-production"] and left["nodes"] == []  # another run's are not touched
    client = foreign.cluster.client()
    try:
        assert client.request("DELETE", f"/api/v1/namespaces/{other}-production").status == 200
    finally:
        client.close()
    deadline = time.monotonic() + 60  # leave the cluster as the other tests expect it
    while foreign.owned()["namespaces"] and time.monotonic() < deadline:
        time.sleep(0.5)
