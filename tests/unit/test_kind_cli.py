"""`auditbench kind ...` through the real entry point: files, exit codes, messages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from bench.paths import project_root

POLICY = str(project_root() / "policies" / "seed-production.yaml")


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bench.cli", "kind", *args], capture_output=True, text=True,
                          timeout=300, cwd=project_root(), env=env)


def test_config_writes_and_validates(tmp_path: Path) -> None:
    proc = _cli("config", "--policy", POLICY, "--out", str(tmp_path), "--name", "ci", "--log-maxsize", "50",
                "--image", "kindest/node:v1.36.4@sha256:099e049362a1526b2db71494e1947aae99bd16290d7c895f2b7ea312e3cbfaed")
    assert proc.returncode == 0, proc.stderr
    out = " ".join(proc.stdout.split())
    assert "kind v0.33.0 accepts it: all 9 audit flags reach kubeadm.k8s.io/v1beta4 for Kubernetes v1.36.4" in out
    assert f"next: kind create cluster --config {tmp_path}/kind-config.yaml --name ci" in out
    doc = yaml.safe_load((tmp_path / "kind-config.yaml").read_text())
    assert "audit-log-maxsize: '50'" in doc["nodes"][0]["kubeadmConfigPatches"][0]
    assert (tmp_path / "kubeadm" / "ci-control-plane.kubeadm.conf").is_file()


def test_config_input_errors_exit_2(tmp_path: Path) -> None:
    proc = _cli("config", "--out", str(tmp_path))
    assert proc.returncode == 2 and "--policy: the kind backend needs an audit policy file" in proc.stderr
    proc = _cli("config", "--policy", POLICY, "--webhook", "--out", str(tmp_path))
    assert proc.returncode == 2 and "--webhook needs --webhook-url and --webhook-ca" in proc.stderr
    proc = _cli("config", "--policy", POLICY, "--webhook-batch-max-wait", "5 seconds", "--out", str(tmp_path))
    assert proc.returncode == 2 and "--webhook-batch-max-wait" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_check_exits_1_when_no_audit_flag_survives(tmp_path: Path) -> None:
    assert _cli("config", "--policy", POLICY, "--out", str(tmp_path)).returncode == 0
    config = tmp_path / "kind-config.yaml"
    ok = _cli("check", str(config))
    assert ok.returncode == 0 and "--audit-policy-file=/etc/kubernetes/audit/policy.yaml" in ok.stdout
    config.write_text(config.read_text().replace(
        "    kind: ClusterConfiguration\n", "    apiVersion: kubeadm.k8s.io/v1beta4\n    kind: ClusterConfiguration\n"))
    bad = _cli("check", str(config))
    assert bad.returncode == 1 and "no audit flags reach the apiserver" in " ".join(bad.stdout.split())


def test_up_without_kind_exits_3_with_the_install_hint(tmp_path: Path) -> None:
    env = dict(os.environ, PATH="/usr/bin:/bin")  # the docker client may be there; kind is not
    proc = _cli("up", "--policy", POLICY, "--out", str(tmp_path / "up"), env=env)
    assert proc.returncode == 3, proc.stderr
    assert "kind is not on PATH (go install sigs.k8s.io/kind@v0.33.0)" in proc.stderr
    assert not (tmp_path / "up").exists()  # nothing written before the preflight passed
