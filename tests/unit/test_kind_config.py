"""bench.kind.config: AuditSettings -> kind cluster config, patch, mounts (pure Python, no Go)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bench.controlplane.audit import AuditSettings, audit_flags
from bench.errors import InputError
from bench.kind import config as kc
from bench.paths import project_root

POLICY = project_root() / "policies" / "seed-production.yaml"


def _settings(**webhook) -> AuditSettings:
    doc: dict = {"policy": POLICY}
    if webhook:
        doc["webhook"] = {"enabled": True, **webhook}
    return AuditSettings.model_validate(doc)


def _patch(config: Path) -> dict:
    doc = yaml.safe_load(config.read_text())
    return yaml.safe_load(doc["nodes"][0]["kubeadmConfigPatches"][0])


def test_in_node_flags_are_the_local_flags_with_node_paths() -> None:
    settings = _settings(batch={"max_wait": "5s"})
    local = audit_flags(settings, Path("/run/audit.log"), Path("/run/webhook.kubeconfig"))
    node = kc.in_node_flags(settings)
    assert [f.split("=")[0] for f in node] == [f.split("=")[0] for f in local]
    args = kc.flags_to_args(node)
    assert args["audit-policy-file"] == "/etc/kubernetes/audit/policy.yaml"
    assert args["audit-log-path"] == "/var/log/kubernetes/audit/audit.log"
    assert args["audit-webhook-config-file"] == "/etc/kubernetes/audit/webhook.kubeconfig"
    assert args["audit-webhook-batch-max-wait"] == "5s"
    assert not any(str(POLICY) in f for f in node)


def test_flags_to_args_refuses_a_bare_flag() -> None:
    with pytest.raises(ValueError):
        kc.flags_to_args(["--audit-log-path"])


def test_patch_is_unversioned_map_style_with_both_volumes() -> None:
    patch = yaml.safe_load(kc.cluster_patch(_settings()))
    assert patch["kind"] == "ClusterConfiguration"
    assert "apiVersion" not in patch  # the v1beta4 pitfall: a versioned map-style patch is dropped
    args = patch["apiServer"]["extraArgs"]
    assert isinstance(args, dict) and all(isinstance(v, str) for v in args.values())
    assert args == kc.flags_to_args(kc.in_node_flags(_settings()))
    volumes = {v["mountPath"]: v for v in patch["apiServer"]["extraVolumes"]}
    assert volumes["/etc/kubernetes/audit"]["readOnly"] is True
    assert volumes["/var/log/kubernetes/audit"]["readOnly"] is False
    assert all(v["hostPath"] == v["mountPath"] for v in volumes.values())


def test_write_kind_files_log_only(tmp_path: Path) -> None:
    files = kc.write_kind_files(_settings(), tmp_path / "out", name="audit-test")
    doc = yaml.safe_load(files.config.read_text())
    assert doc["apiVersion"] == "kind.x-k8s.io/v1alpha4" and doc["kind"] == "Cluster"
    assert doc["name"] == "audit-test"
    node = doc["nodes"][0]
    assert node["role"] == "control-plane" and node["image"] == kc.DEFAULT_IMAGE
    mounts = {m["containerPath"]: m for m in node["extraMounts"]}
    assert mounts["/etc/kubernetes/audit"]["hostPath"] == str(files.mounts_dir)
    assert mounts["/etc/kubernetes/audit"]["readOnly"] is True
    assert mounts["/var/log/kubernetes/audit"]["hostPath"] == str(files.log_dir)
    assert all(Path(m["hostPath"]).is_absolute() for m in mounts.values())
    assert (files.mounts_dir / "policy.yaml").read_bytes() == POLICY.read_bytes()
    assert files.log_dir.is_dir() and files.audit_log == files.log_dir / "audit.log"
    assert not (files.mounts_dir / "webhook.kubeconfig").exists()
    assert "audit-webhook-config-file" not in files.expected_args
    assert _patch(files.config)["apiServer"]["extraArgs"] == files.expected_args
    assert "kubeadmConfigPatches:\n  - |\n" in files.config.read_text()  # readable block, not a quoted blob


def test_write_kind_files_with_webhook(tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\nfixture\n-----END CERTIFICATE-----\n")
    target = kc.WebhookTarget("https://172.18.0.1:9443/audit", ca)
    files = kc.write_kind_files(_settings(mode="blocking"), tmp_path / "out", webhook=target)
    kubeconfig = yaml.safe_load((files.mounts_dir / "webhook.kubeconfig").read_text())
    cluster = kubeconfig["clusters"][0]["cluster"]
    assert cluster["server"] == "https://172.18.0.1:9443/audit"
    assert cluster["certificate-authority"] == "/etc/kubernetes/audit/webhook-ca.crt"
    assert (files.mounts_dir / "webhook-ca.crt").read_bytes() == ca.read_bytes()
    assert files.expected_args["audit-webhook-mode"] == "blocking"
    assert "audit-webhook-batch-max-size" not in files.expected_args  # batch flags only in batch mode


def test_webhook_without_target_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="receiver"):
        kc.write_kind_files(_settings(mode="batch"), tmp_path, webhook=None)


def test_no_policy_and_bad_name_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="policy"):
        kc.cluster_config(AuditSettings(), mounts_dir=tmp_path, log_dir=tmp_path)
    with pytest.raises(InputError, match="--name"):
        kc.cluster_config(_settings(), mounts_dir=tmp_path, log_dir=tmp_path, name="Audit_Bench")


def test_check_patches_catches_a_versioned_patch(tmp_path: Path) -> None:
    files = kc.write_kind_files(_settings(), tmp_path)
    text = files.config.read_text().replace(
        "    kind: ClusterConfiguration\n", "    apiVersion: kubeadm.k8s.io/v1beta4\n    kind: ClusterConfiguration\n")
    files.config.write_text(text)
    with pytest.raises(InputError, match="versioned"):
        kc.check_patches(files.config, files.expected_args)


def test_check_patches_catches_a_missing_or_changed_flag(tmp_path: Path) -> None:
    files = kc.write_kind_files(_settings(), tmp_path)
    files.config.write_text(files.config.read_text().replace("audit-log-maxage: '30'", "audit-log-maxage: '7'"))
    with pytest.raises(InputError, match="1 audit flag.*--audit-log-maxage=30"):
        kc.check_patches(files.config, files.expected_args)


def test_node_images_are_pinned_by_digest() -> None:
    for version, image in kc.NODE_IMAGES.items():
        assert image.startswith(f"kindest/node:{version}@sha256:") and len(image.split("@sha256:")[1]) == 64


def test_load_kind_files_round_trips(tmp_path: Path) -> None:
    written = kc.write_kind_files(_settings(), tmp_path / "out", name="ci")
    loaded = kc.load_kind_files(written.config)
    assert loaded == written


def test_load_kind_files_refuses_configs_without_audit(tmp_path: Path) -> None:
    plain = tmp_path / "plain.yaml"
    plain.write_text("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n")
    with pytest.raises(InputError, match="no audit-"):
        kc.load_kind_files(plain)
    written = kc.write_kind_files(_settings(), tmp_path / "out")
    doc = yaml.safe_load(written.config.read_text())
    doc["nodes"][0]["extraMounts"] = doc["nodes"][0]["extraMounts"][:1]
    written.config.write_text(yaml.safe_dump(doc))
    with pytest.raises(InputError, match="no mount for /var/log/kubernetes/audit"):
        kc.load_kind_files(written.config)
