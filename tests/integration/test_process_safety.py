"""The real control plane: every thread of etcd, kube-apiserver and kube-controller-manager inside
the CPU set it was given before exec, GOMAXPROCS matching it, and how each one exited."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.controlplane.affinity import effective_cpus
from bench.controlplane.audit import AuditSettings
from bench.controlplane.local import LocalCluster
from tests.integration.conftest import policy_path

pytestmark = pytest.mark.integration


def test_every_control_plane_thread_runs_inside_its_cpu_set_and_exits_cleanly(binaries, tmp_path: Path) -> None:
    allowed = os.sched_getaffinity(0)
    cpus = {max(allowed)}  # one CPU, so a thread outside the set could not hide in it
    cluster = LocalCluster(audit=AuditSettings(policy=policy_path("seed-production")), binaries=binaries,
                           run_dir=tmp_path / "run", control_plane_cpus=cpus)
    with cluster:
        client = cluster.client()
        for _ in range(50):  # some work, so the Go runtimes start the threads they start under load
            assert client.get("/api/v1/namespaces/default/configmaps").status == 200
        client.close()
        for child in cluster.children:
            got = effective_cpus(child.pid)
            print(f"{child.name}: {got.as_metadata()}")
            assert got.cpus == cpus, child.name
            assert len(got.threads) > 3, f"{child.name}: a Go process has more threads than that"
            assert got.outside(cpus) == {}, f"{child.name} threads outside {cpus}: {got.outside(cpus)}"
            environ = Path(f"/proc/{child.pid}/environ").read_bytes().split(b"\0")
            assert b"GOMAXPROCS=1" in environ, child.name
    exits = cluster.exits
    assert set(exits) == {"etcd", "kube-apiserver", "kube-controller-manager"}
    for name, info in exits.items():
        print(f"{name}: {info.as_dict()}")
    assert all(info.clean for info in exits.values()), exits
    # The apiserver drains and flushes its audit backends on SIGTERM, then exits 0; etcd runs its
    # interrupt handlers, then re-raises SIGTERM on itself (go.etcd.io/etcd/pkg/osutil).
    assert exits["kube-apiserver"].returncode == 0
    assert exits["etcd"].returncode in (0, -15)
    assert cluster.exits["kube-apiserver"].seconds < cluster.shutdown_grace
