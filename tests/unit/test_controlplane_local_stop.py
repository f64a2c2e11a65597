"""LocalCluster's lifecycle without Kubernetes binaries: stop retried after an interrupt, the
scratch it owns removed, a failed start keeping its logs, private files and directories."""

from __future__ import annotations

import re
import shutil
import stat
import tempfile
from pathlib import Path

import pytest

from bench.controlplane.build import Binaries
from bench.controlplane.local import LocalCluster, StartupError
from bench.controlplane.procs import Child


@pytest.fixture(autouse=True)
def _own_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDITBENCH_CACHE_DIR", str(tmp_path / "cache"))


def test_an_interrupted_stop_is_finished_by_the_next_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = LocalCluster()
    cluster.run_dir = Path(tempfile.mkdtemp(prefix="auditbench-"))  # as start() makes it
    names = ["etcd", "kube-apiserver", "kube-controller-manager"]
    cluster.children = [Child(n, ["sleep", "60"], cluster.run_dir / "logs" / f"{n}.log").start() for n in names]
    order: list[str] = []
    apiserver = cluster.children[1]
    real_stop = apiserver.stop

    def interrupted_once(grace: float = 10.0):
        order.append("kube-apiserver")
        if order.count("kube-apiserver") == 1:
            raise KeyboardInterrupt  # Ctrl-C while the apiserver flushes
        return real_stop(grace)

    monkeypatch.setattr(apiserver, "stop", interrupted_once)
    with pytest.raises(KeyboardInterrupt):
        cluster.stop()
    assert set(cluster.exits) == {"kube-controller-manager"}  # stopped first, and only it
    assert cluster.children[0].running() and cluster.children[1].running()
    assert cluster.run_dir.is_dir()
    cluster.stop()
    assert set(cluster.exits) == set(names) and all(e.clean for e in cluster.exits.values())
    assert not any(c.running() for c in cluster.children)
    assert not cluster.run_dir.exists()
    cluster.stop()  # idempotent
    assert order.count("kube-apiserver") == 3


def _script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def test_a_failed_start_keeps_its_private_run_dir_and_removes_etcd_data(tmp_path: Path) -> None:
    fake = _script(tmp_path / "etcd", 'echo "etcd: cannot start: $*"\nexit 1\n')
    bins = Binaries(fake, fake, fake, "v1.37.2", "v3.7.0", "user")
    cluster = LocalCluster(binaries=bins, ready_timeout=10)
    with pytest.raises(StartupError, match="etcd exited with code 1") as err:
        cluster.start()
    run_dir = cluster.run_dir
    assert run_dir is not None
    try:
        assert "cannot start: --name=auditbench" in str(err.value)  # the log it names is still there
        assert (run_dir / "logs" / "etcd.log").is_file()
        assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700
        private = [run_dir / "admin.kubeconfig", run_dir / "controller-manager.kubeconfig", run_dir / "identities.json",
                   run_dir / "pki" / "tokens.csv", run_dir / "pki" / "sa.key", run_dir / "pki" / "ca.key",
                   run_dir / "pki" / "apiserver.key"]
        assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in private} == {p.name: 0o600 for p in private}
        (data_dir,) = re.findall(r"--data-dir=(\S+)", (run_dir / "logs" / "etcd.log").read_text())
        assert Path(data_dir).name.startswith("auditbench-etcd-") and not Path(data_dir).exists()
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
