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
