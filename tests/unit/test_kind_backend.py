"""Kind scenarios up to the docker call: the files, the exact commands, and the cluster deleted
after a failure, a dropped patch, a failed create and Ctrl-C.

`kind` and `docker` are fakes on PATH (tests/fixtures/kind/fake_tools.py) that record their
argv and answer as the real tools do; the harness runs them through its real runner, and
kind's own config code (kindcheck) still checks every config. No cluster exists here: the
GitHub workflow runs the kind scenario for real.
"""

from __future__ import annotations

import json
import os
import signal
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml

from bench.backends.kind import KindBackend, KindRun
from bench.controlplane import pki
from bench.kind import config as kc
from bench.kind.manifest import AuditNotApplied
from bench.measure.variant import MeasureOptions, measure_variant
from bench.scenario.loader import parse_scenario
from bench.scenario.matrix import Variant, expand
from tests.fixtures.kind.fake_tools import install

IMAGE = kc.NODE_IMAGES["v1.36.4"]


@dataclass
class Tools:
    log: Path

    def calls(self) -> list[list[str]]:
        return [json.loads(line) for line in self.log.read_text().splitlines()] if self.log.exists() else []

    def heads(self) -> list[str]:
        return [" ".join(c[:3]) for c in self.calls()]


@pytest.fixture
def tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Tools:
    install(tmp_path / "bin")
    ca = tmp_path / "kind-ca.crt"
    ca.write_bytes(pki.cert_pem(pki.make_ca("kind-ca").cert))
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_TOOLS_LOG", str(tmp_path / "tools.log"))
    monkeypatch.setenv("FAKE_TOOLS_STATE", str(tmp_path / "tools-state"))
    monkeypatch.setenv("FAKE_KIND_CA", str(ca))
    return Tools(tmp_path / "tools.log")


def kind_variant(webhook: bool = True) -> Variant:
    doc = {"name": "k", "backend": "kind", "kind": {"image": IMAGE}, "policies": ["seed-production"], "baseline": False,
           "audit": {"webhook": {"enabled": [webhook], **({"batch_max_wait": ["1s"]} if webhook else {})}},
           "traffic": {"profiles": ["mixed"], "users": 2, "duration": "5s", "warmup": "1s"}}
    (variant,) = expand(parse_scenario(doc))
    assert variant.backend == "kind"
    return variant


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_files_commands_and_delete_when_the_cluster_does_not_answer(tools: Tools, tmp_path: Path) -> None:
    variant = kind_variant()
    backend = KindBackend(variant, KindRun(IMAGE)).at(tmp_path / "scratch", None)
    receiver = backend.start_receiver(variant, tmp_path / "scratch", 7, None)
    try:
        assert receiver.host == "127.0.0.1"  # the fake docker network's gateway
        with pytest.raises(Exception):  # noqa: B017 - the fake kubeconfig's server (port 1) refuses
            with backend:
                pass
    finally:
        receiver.stop()
    name = backend.name_
    kubeconfig = str(tmp_path / "scratch" / "kind" / "kubeconfig")
    assert tools.calls() == [
        ["docker", "network", "inspect", "kind", "--format", "{{json .IPAM.Config}}"],
        ["docker", "info", "--format", "{{.ServerVersion}}"],
        ["kind", "create", "cluster", "--config", str(backend.files.config), "--name", name, "--kubeconfig", kubeconfig,
         "--wait", "120s"],
        ["docker", "exec", f"{name}-control-plane", "cat", "/etc/kubernetes/manifests/kube-apiserver.yaml"],
        ["kind", "delete", "cluster", "--name", name, "--kubeconfig", kubeconfig],
    ]
    assert backend.deleted and not backend.cluster.created
    # the files the node mounts: policy, webhook kubeconfig pointing at the receiver, tokens 0600
    files = backend.files
    config = yaml.safe_load(files.config.read_text())
    assert config["name"] == name and config["nodes"][0]["image"] == IMAGE
    args = kc.patch_args(files.config)
    assert args["token-auth-file"] == "/etc/kubernetes/audit/tokens.csv"
    assert args["audit-policy-file"] == "/etc/kubernetes/audit/policy.yaml" and args["audit-webhook-batch-max-wait"] == "1s"
    assert files.expected_args["token-auth-file"] == args["token-auth-file"]  # proved in the manifest too
    assert args["enable-admission-plugins"] == "" == files.expected_args["enable-admission-plugins"]  # no NodeRestriction
    tokens = files.mounts_dir / "tokens.csv"
    assert _mode(tokens) == 0o600 and {i.token for i in backend.identities} <= set(tokens.read_text().replace(",", "\n").split())
    assert _mode(backend.identities_file) == 0o600 and _mode(backend.identities_file.parent) == 0o700
    hook = yaml.safe_load((files.mounts_dir / "webhook.kubeconfig").read_text())
    assert hook["clusters"][0]["cluster"]["server"] == receiver.url
    # the log file exists before the cluster, readable here after the node's root appends to it
    assert files.audit_log.exists() and _mode(files.audit_log) == 0o644
    assert backend.audit_log_path == files.audit_log
    meta = backend.run_metadata()
    assert meta["node_image"] == IMAGE and meta["backend_info"]["deleted"] is True
    assert backend.versions()["kubernetes_version"] == "v1.36.4"


def test_a_variant_that_ends_well_deletes_its_cluster_too(tools: Tools, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # No kind cluster answers here: the steps that talk to its apiserver (RBAC, readiness, the
    # marker wait) are stood in for, so the body of the `with` runs and ends normally.
    import bench.backends.preflight as pf

    monkeypatch.setattr(KindBackend, "_apply_rbac", lambda self: None)
    monkeypatch.setattr(KindBackend, "_wait_for_sinks", lambda self: self.drain.update(waited=True))
    monkeypatch.setattr(pf, "wait_ready", lambda client, timeout_s=0.0: 0.0)
    monkeypatch.setattr(pf, "version", lambda client: "v1.36.4")
    backend = KindBackend(kind_variant(webhook=False), KindRun(IMAGE)).at(tmp_path / "s", None)
    with backend:
        assert backend.cluster.created and backend.server == "https://127.0.0.1:1"
        assert "--token-auth-file=/etc/kubernetes/audit/tokens.csv" in backend.apiserver_flags()
    assert tools.heads()[-1] == "kind delete cluster" and backend.deleted
    assert backend.run_metadata()["server_version"] == "v1.36.4"
    backend.stop()  # idempotent: no second delete
    assert tools.heads().count("kind delete cluster") == 1


def test_a_dropped_patch_deletes_the_cluster(tools: Tools, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_KIND_DROP_ARGS", "1")
    backend = KindBackend(kind_variant(webhook=False), KindRun(IMAGE)).at(tmp_path / "s", None)
    with pytest.raises(AuditNotApplied, match="NOT auditing as configured"):
        with backend:
            pass
    assert tools.heads()[-2:] == ["docker exec " + f"{backend.name_}-control-plane", "kind delete cluster"]


def test_a_failed_create_is_deleted_and_the_variant_recorded_failed(tools: Tools, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_KIND_CREATE", "fail")
    variant = kind_variant()
    options = MeasureOptions(echo=lambda m: None, scratch_root=tmp_path, target=KindRun(IMAGE))
    result = measure_variant(variant, "run", 1, 7, tmp_path / "run", options)
    assert result.status == "failed" and "kind create cluster failed" in (result.error or "")
    assert result.metadata.backend == "kind" and result.metadata.node_image == IMAGE
    heads = tools.heads()
    assert heads.count("kind create cluster") == 1 and heads[-1] == "kind delete cluster"
    assert not _receivers_alive(tmp_path)


def _receivers_alive(root: Path) -> list[int]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if "bench.webhook.server" in cmd and str(root) in cmd:
            found.append(p.pid)
    return found


def _interrupt_after(seconds: float) -> Any:
    def raise_interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, raise_interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    return previous


def test_ctrl_c_during_create_deletes_the_cluster(tools: Tools, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_KIND_CREATE", "hang")
    variant = kind_variant()
    options = MeasureOptions(echo=lambda m: None, scratch_root=tmp_path, target=KindRun(IMAGE))
    previous = _interrupt_after(3.0)
    try:
        with pytest.raises(KeyboardInterrupt):
            measure_variant(variant, "run", 1, 7, tmp_path / "run", options)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    calls = tools.calls()
    assert [c[:3] for c in calls][-2:] == [["kind", "create", "cluster"], ["kind", "delete", "cluster"]]
    create = next(c for c in calls if c[:2] == ["kind", "create"])
    assert calls[-1][calls[-1].index("--name") + 1] == create[create.index("--name") + 1]
    assert not [p for p in psutil.process_iter(["cmdline"]) if "fake_tools.py" in " ".join(p.info["cmdline"] or [])
                and "create" in (p.info["cmdline"] or [])], "the interrupted kind create is still running"
    assert not _receivers_alive(tmp_path)


def test_kind_scenarios_run_through_the_runner(tools: Tools, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console

    from bench.runner import run_scenario

    monkeypatch.setenv("FAKE_KIND_CREATE", "fail")
    scenario = tmp_path / "kind.yaml"
    scenario.write_text(yaml.safe_dump({
        "name": "kind-fake", "backend": "kind", "kind": {"image": IMAGE}, "policies": ["metadata-all"],
        "traffic": {"profiles": ["mixed"], "users": 2, "duration": "5s", "warmup": "1s"}}))
    console = Console(file=open(os.devnull, "w"))  # noqa: SIM115
    outcome = run_scenario(scenario, root=tmp_path / "results", console=console,
                           options=MeasureOptions(echo=lambda m: None, scratch_root=tmp_path))
    # no control-plane build for kind: kind's tools were checked instead, then one cluster per variant
    assert [r.variant_id for r in sorted(outcome.results, key=lambda r: r.variant_id)] == [
        "baseline.mixed", "metadata-all.log.mixed"]
    assert all(r.status == "failed" and r.metadata.backend == "kind" for r in outcome.results)
    heads = tools.heads()
    assert heads[0] == "docker info --format" and heads.count("kind create cluster") == 2
    assert heads.count("kind delete cluster") == 2


def test_kind_variants_get_time_for_the_cluster() -> None:
    doc = {"name": "k", "policies": ["metadata-all"], "traffic": {"users": 2, "duration": "10s", "warmup": "2s"}}
    local = parse_scenario(doc)
    kind = parse_scenario({**doc, "backend": "kind"})
    assert kind.variant_timeout_s() - local.variant_timeout_s() == 600.0
    assert kind.kind_options().image == kc.DEFAULT_IMAGE
