"""bench.kind.validate: kind v0.33.0's own code (controlplane/kindcheck) on generated and broken configs.

The first test in a fresh cache builds kindcheck (seconds with a warm Go cache); later runs reuse it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.controlplane.audit import AuditSettings
from bench.errors import InputError
from bench.kind import config as kc
from bench.kind.validate import binary_path, build, run_kindcheck, validate
from bench.paths import project_root

POLICY = project_root() / "policies" / "seed-production.yaml"


@pytest.fixture
def files(tmp_path: Path) -> kc.KindFiles:
    settings = AuditSettings.model_validate({"policy": POLICY, "log": {"maxage": 7}})
    return kc.write_kind_files(settings, tmp_path / "kind", name="audit-test")


def _version_patch(config: Path, api_version: str) -> None:
    config.write_text(config.read_text().replace(
        "    kind: ClusterConfiguration\n", f"    apiVersion: {api_version}\n    kind: ClusterConfiguration\n", 1))


def test_generated_config_reaches_kubeadm_v1beta4(files: kc.KindFiles, tmp_path: Path) -> None:
    result = validate(files.config, files.expected_args, kubeadm_dir=tmp_path / "kubeadm")
    assert result.kind_version == kc.KIND_VERSION
    assert result.kubernetes_version == "v1.37.0"
    assert result.kubeadm_api_version == "kubeadm.k8s.io/v1beta4"
    for name, value in files.expected_args.items():
        assert result.apiserver_args[name] == value
    assert result.apiserver_args["audit-log-maxage"] == "7"
    assert {v["mountPath"] for v in result.extra_volumes} == {"/etc/kubernetes/audit", "/var/log/kubernetes/audit"}
    rendered = result.kubeadm_config.read_text()
    assert "- name: audit-policy-file\n    value: /etc/kubernetes/audit/policy.yaml" in rendered  # list form


def test_older_node_gets_v1beta3_with_the_same_flags(files: kc.KindFiles) -> None:
    result = validate(files.config, files.expected_args, kubernetes_version="v1.35.8")
    assert result.kubeadm_api_version == "kubeadm.k8s.io/v1beta3"
    assert all(result.apiserver_args[k] == v for k, v in files.expected_args.items())


def test_versioned_map_patch_loses_its_flags_silently_in_kind(files: kc.KindFiles) -> None:
    _version_patch(files.config, "kubeadm.k8s.io/v1beta4")
    report = run_kindcheck(files.config)  # kind itself accepts the config ...
    node = report["control_plane_nodes"][0]
    assert not [a for a in node["apiserver_extra_args"] if a["name"].startswith("audit-")]  # ... drops the flags
    assert len(node["apiserver_extra_volumes"]) == 2  # ... and keeps the volumes, so nothing looks wrong
    with pytest.raises(InputError, match=r"would not pass 9 of 9 audit flags .*v1beta4"):
        validate(files.config, files.expected_args)


def test_v1beta3_patch_does_not_match_a_v1beta4_document(files: kc.KindFiles) -> None:
    _version_patch(files.config, "kubeadm.k8s.io/v1beta3")
    node = run_kindcheck(files.config)["control_plane_nodes"][0]
    assert node["apiserver_extra_volumes"] is None
    assert [a["name"] for a in node["apiserver_extra_args"]] == ["runtime-config"]


def test_unknown_field_is_rejected_by_kinds_strict_decoding(files: kc.KindFiles) -> None:
    files.config.write_text(files.config.read_text().replace("  extraMounts:", "  extraMount:"))
    with pytest.raises(InputError, match="field extraMount not found in type v1alpha4.Node"):
        validate(files.config)


def test_kind_validate_rejects_a_bad_name_and_no_control_plane(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nname: Bad_Name\nnodes:\n- role: worker\n")
    with pytest.raises(InputError) as err:
        validate(bad)
    assert "not a valid cluster name" in err.value.reason
    assert "must have at least one control-plane node" in err.value.reason


def test_wrong_api_version_is_rejected(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha3\nnodes:\n- role: control-plane\n")
    with pytest.raises(InputError, match="unknown apiVersion: kind.x-k8s.io/v1alpha3"):
        validate(bad)


def test_binary_is_cached(files: kc.KindFiles) -> None:
    first = build()
    assert first == binary_path() and first.is_file()
    mtime = os.stat(first).st_mtime_ns
    assert build() == first and os.stat(first).st_mtime_ns == mtime
