"""bench.kind.manifest on kube-apiserver static pod manifests written by kubeadm v1.37.2's own code
(tests/fixtures/kind/regen.sh: auditbench config -> kind v0.33.0's kubeadm config -> kubeadm)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.controlplane.audit import AuditSettings
from bench.kind import config as kc
from bench.kind import manifest
from bench.paths import project_root

FIXTURES = project_root() / "tests" / "fixtures" / "kind"
DIRS = ["/etc/kubernetes/audit", "/var/log/kubernetes/audit"]


def _expected() -> dict[str, str]:
    # The settings regen.sh used for the fixtures.
    settings = AuditSettings.model_validate({
        "policy": project_root() / "policies" / "seed-production.yaml",
        "webhook": {"enabled": True, "batch": {"max_wait": "5s"}},
    })
    return kc.flags_to_args(kc.in_node_flags(settings))


def _text(name: str) -> str:
    return (FIXTURES / f"kube-apiserver.{name}.yaml").read_text()


def test_kubeadm_manifest_from_the_generated_config_has_every_flag() -> None:
    pod = manifest.check(_text("audit"), _expected(), DIRS, node="auditbench-control-plane")
    assert pod.args["audit-policy-file"] == "/etc/kubernetes/audit/policy.yaml"
    assert pod.args["audit-webhook-batch-max-wait"] == "5s"
    assert pod.args["authorization-mode"] == "Node,RBAC"  # kubeadm's own flags are parsed too
    assert pod.host_paths[pod.mounts["/var/log/kubernetes/audit"]] == "/var/log/kubernetes/audit"


def test_versioned_patch_manifest_fails_loudly_naming_the_flags() -> None:
    text = _text("versioned-patch")
    expected = _expected()
    pod = manifest.parse(text)
    assert not [k for k in pod.args if k.startswith("audit-")]
    assert manifest.problems(pod, expected, DIRS) == [f"--{k} missing" for k in expected]  # volumes are there
    with pytest.raises(manifest.AuditNotApplied) as err:
        manifest.check(text, expected, DIRS, node="auditbench-control-plane")
    message = str(err.value)
    assert "NOT auditing" in message and f"{len(expected)} problem(s)" in message
    assert "--audit-policy-file missing" in message and "and 13 more" in message
    assert "apiVersion" in message  # the hint names the cause


def test_a_changed_value_and_a_missing_mount_are_reported() -> None:
    text = _text("audit").replace("--audit-log-maxage=30", "--audit-log-maxage=7")
    text = text.replace("    - mountPath: /var/log/kubernetes/audit\n      name: audit-logs\n", "")
    found = manifest.problems(manifest.parse(text), _expected(), DIRS)
    assert found == ["--audit-log-maxage=7 (expected 30)", "no volume mounted at /var/log/kubernetes/audit"]


@pytest.mark.parametrize("text", ["{not yaml", "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: etcd\n", ""])
def test_broken_manifest_is_not_applied(text: str) -> None:
    with pytest.raises(manifest.AuditNotApplied):
        manifest.check(text, _expected(), DIRS, node="n")


def test_fixtures_are_kubeadm_output() -> None:
    for name in ("audit", "versioned-patch"):
        text = _text(name)
        assert text.startswith("# kubeadm v1.37.2 output for kind v0.33.0's kubeadm config")
        assert "image: registry.k8s.io/kube-apiserver:v1.37.0" in text
        assert Path(FIXTURES / "regen.sh").is_file()
