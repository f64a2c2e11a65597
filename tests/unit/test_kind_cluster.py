"""bench.kind.cluster / commands / network up to the docker call: argv, preflight, gateway choice.

The runner is injected and only records argv or answers as docker and kind answer when there is
no engine; no test pretends that a cluster exists (the GitHub workflow creates real ones).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from bench.controlplane.audit import AuditSettings
from bench.errors import EnvironmentProblem, InputError
from bench.kind import config as kc
from bench.kind.cluster import KindCluster
from bench.kind.commands import preflight
from bench.kind.network import network_gateway, receiver_address
from bench.webhook.receiver import _check_bind
from bench.paths import project_root

NO_ENGINE = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"


class Recorder:
    """Records argv; answers `docker ...` like a docker client without an engine (exit 1)."""

    def __init__(self, answers: dict[tuple[str, ...], tuple[int, str]] | None = None) -> None:
        self.calls: list[list[str]] = []
        self.answers = answers or {}

    def __call__(self, argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
        self.calls.append(list(argv))
        for prefix, (rc, out) in self.answers.items():
            if tuple(argv[: len(prefix)]) == prefix:
                return subprocess.CompletedProcess(list(argv), rc, out, "")
        return subprocess.CompletedProcess(list(argv), 1, "", NO_ENGINE)


def _which(*present: str):
    return lambda name: f"/usr/bin/{name}" if name in present else None


@pytest.fixture
def files(tmp_path: Path) -> kc.KindFiles:
    settings = AuditSettings(policy=project_root() / "policies" / "seed-production.yaml")
    return kc.write_kind_files(settings, tmp_path / "kind", name="audit-test")


def test_argv(files: kc.KindFiles) -> None:
    cluster = KindCluster(files, "audit-test", wait="90s")
    assert cluster.create_argv() == ["kind", "create", "cluster", "--config", str(files.config), "--name", "audit-test",
                                     "--kubeconfig", str(files.config.parent / "kubeconfig"), "--wait", "90s"]
    assert cluster.delete_argv() == ["kind", "delete", "cluster", "--name", "audit-test",
                                     "--kubeconfig", str(files.config.parent / "kubeconfig")]
    assert cluster.manifest_argv() == ["docker", "exec", "audit-test-control-plane", "cat",
                                       "/etc/kubernetes/manifests/kube-apiserver.yaml"]
    assert cluster.audit_log == files.log_dir / "audit.log"


def test_preflight_names_what_is_missing() -> None:
    with pytest.raises(EnvironmentProblem, match="kind is not on PATH") as err:
        preflight(Recorder(), _which("docker"), kind_version="v0.33.0")
    assert err.value.hint == "go install sigs.k8s.io/kind@v0.33.0"
    with pytest.raises(EnvironmentProblem, match="docker is not on PATH"):
        preflight(Recorder(), _which("kind"), kind_version="v0.33.0")
    rec = Recorder()
    with pytest.raises(EnvironmentProblem, match="no docker engine answers .*Cannot connect") as err:
        preflight(rec, _which("kind", "docker"), kind_version="v0.33.0")
    assert "start the Docker daemon" in err.value.hint
    assert rec.calls == [["docker", "info", "--format", "{{.ServerVersion}}"]]
    preflight(Recorder({("docker", "info"): (0, "28.2.2\n")}), _which("kind", "docker"), kind_version="v0.33.0")


def test_create_without_engine_stops_before_kind_create(files: kc.KindFiles) -> None:
    rec = Recorder()
    cluster = KindCluster(files, "audit-test", runner=rec, which=_which("kind", "docker"))
    with pytest.raises(EnvironmentProblem, match="no docker engine"):
        cluster.create()  # kind's code accepted the config first (kindcheck ran for real)
    assert [c[:2] for c in rec.calls] == [["docker", "info"]]
    assert not cluster.created


def test_create_checks_the_config_with_kind_before_docker(files: kc.KindFiles) -> None:
    files.config.write_text(files.config.read_text().replace(
        "    kind: ClusterConfiguration\n", "    apiVersion: kubeadm.k8s.io/v1beta4\n    kind: ClusterConfiguration\n"))
    rec = Recorder()
    with pytest.raises(InputError, match="would not pass"):
        KindCluster(files, "audit-test", runner=rec, which=_which("kind", "docker")).create()
    assert rec.calls == []


KIND_NETWORK = json.dumps([{"Subnet": "fc00:f853:ccd:e793::/64", "Gateway": "fc00:f853:ccd:e793::1"},
                           {"Subnet": "172.18.0.0/16", "Gateway": "172.18.0.1"}])
BRIDGE = json.dumps([{"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"}])


def test_gateway_prefers_the_kind_network_then_bridge() -> None:
    both = {("docker", "network", "inspect", "kind"): (0, KIND_NETWORK),
            ("docker", "network", "inspect", "bridge"): (0, BRIDGE)}
    assert network_gateway("kind", Recorder(both)) == "172.18.0.1"
    assert receiver_address(Recorder(both)) == "172.18.0.1"
    rec = Recorder({("docker", "network", "inspect", "bridge"): (0, BRIDGE)})
    assert receiver_address(rec) == "172.17.0.1"
    assert [c[3] for c in rec.calls] == ["kind", "bridge"]
    with pytest.raises(EnvironmentProblem, match="no docker network gateway"):
        receiver_address(Recorder())


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "172.18.0.1", "172.17.0.1", "10.89.0.1"])
def test_receiver_may_bind_loopback_or_a_private_gateway(host: str) -> None:
    _check_bind(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "8.8.8.8", "169.254.1.1", "localhost"])
def test_receiver_refuses_wildcard_public_and_names(host: str) -> None:
    with pytest.raises(InputError):
        _check_bind(host)


def _fake_tools(bin_dir: Path, calls: Path) -> None:
    """`kind` that records its argv and, for `create`, starts a child (as kind starts docker
    clients) and hangs; `docker info` that answers like a running engine."""
    bin_dir.mkdir()
    kind = bin_dir / "kind"
    kind.write_text(f"""#!/bin/sh
echo "$$ $*" >> {calls}
if [ "$1" = create ]; then sleep 60 & echo "child $!" >> {calls}; wait; fi
exit 0
""")
    docker = bin_dir / "docker"
    docker.write_text("#!/bin/sh\n[ \"$1\" = info ] && echo 28.2.2 && exit 0\nexit 1\n")
    for tool in (kind, docker):
        tool.chmod(0o755)


def _pid_gone(pid: int, timeout: float = 10.0) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return True
        except OSError:
            return True
        time.sleep(0.05)
    return False


def test_a_timed_out_create_is_killed_and_deleted(files: kc.KindFiles, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    calls = tmp_path / "calls"
    _fake_tools(tmp_path / "bin", calls)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    cluster = KindCluster(files, "audit-test", create_timeout=1.0)
    with pytest.raises(EnvironmentProblem, match="did not finish in 1s"):
        cluster.create()
    lines = calls.read_text().splitlines()
    argvs = [line.split(" ", 1)[1] for line in lines if not line.startswith("child ")]
    assert argvs == [" ".join(cluster.create_argv()[1:]), " ".join(cluster.delete_argv()[1:])]
    (child,) = [int(line.split()[1]) for line in lines if line.startswith("child ")]
    assert _pid_gone(child), "what kind started outlived the timeout"
    assert not cluster.created


def test_an_interrupted_create_deletes_unless_retained(files: kc.KindFiles) -> None:
    def interrupted(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
        rec.calls.append(list(argv))
        if argv[:2] == ["kind", "create"]:
            raise KeyboardInterrupt
        return subprocess.CompletedProcess(list(argv), 0, "28.2.2\n" if argv[1] == "info" else "", "")

    for retain, expect_delete in ((False, True), (True, False)):
        rec = Recorder()
        cluster = KindCluster(files, "audit-test", runner=interrupted, which=_which("kind", "docker"), retain=retain)
        with pytest.raises(KeyboardInterrupt):
            cluster.create()
        assert (["kind", "delete"] in [c[:2] for c in rec.calls]) is expect_delete


def test_a_failed_delete_after_a_failed_create_says_both(files: kc.KindFiles) -> None:
    rec = Recorder({("docker", "info"): (0, "28.2.2\n"), ("kind", "create"): (1, ""), ("kind", "delete"): (1, "")})
    with pytest.raises(EnvironmentProblem, match="kind create cluster failed .*deleting the half-made cluster failed too") as err:
        KindCluster(files, "audit-test", runner=rec, which=_which("kind", "docker")).create()
    assert err.value.hint == "run `" + " ".join(KindCluster(files, "audit-test").delete_argv()) + "`"
