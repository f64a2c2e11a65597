"""The control-plane cache key: what invalidates the binaries, and the CLI that CI caches by."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.controlplane import build
from bench.controlplane.cli import build_app


def _module(root: Path) -> Path:
    (root / "cmd" / "kube-apiserver").mkdir(parents=True)
    (root / "go.mod").write_text("module auditbench/controlplane\n\ngo 1.26.0\n")
    (root / "go.sum").write_text("k8s.io/api v0.37.2 h1:abc=\n")
    (root / "cmd" / "kube-apiserver" / "main.go").write_text("package main\n")
    (root / "etcd").mkdir()
    (root / "etcd" / "go.mod").write_text("module auditbench/controlplane/etcd\n")
    (root / "kindcheck").mkdir()
    (root / "kindcheck" / "go.mod").write_text("module auditbench/controlplane/kindcheck\n")
    return root


def test_key_names_versions_and_module_hash(tmp_path: Path) -> None:
    key = build.cache_key(_module(tmp_path))
    prefix = f"k8s-{build.KUBERNETES_VERSION}_etcd-{build.ETCD_VERSION}_"
    assert key.startswith(prefix)
    assert len(key.removeprefix(prefix)) == 12


@pytest.mark.parametrize("edit", ["go.mod", "go.sum", "cmd/kube-apiserver/main.go", "etcd/go.mod"])
def test_control_plane_module_edits_change_the_key(tmp_path: Path, edit: str) -> None:
    src = _module(tmp_path)
    before = build.cache_key(src)
    with open(src / edit, "a") as fh:
        fh.write("// changed\n")
    assert build.cache_key(src) != before


@pytest.mark.parametrize("edit", ["kindcheck/go.mod", "README.md"])
def test_unrelated_edits_keep_the_key(tmp_path: Path, edit: str) -> None:
    src = _module(tmp_path)
    before = build.cache_key(src)
    (src / edit).write_text("changed\n")
    assert build.cache_key(src) == before


def test_cli_prints_the_key_and_the_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDITBENCH_CACHE_DIR", str(tmp_path / "cache"))
    runner = CliRunner()
    key = runner.invoke(build_app, ["cache-key"])
    directory = runner.invoke(build_app, ["cache-key", "--dir"])
    assert key.exit_code == 0 and directory.exit_code == 0
    assert key.stdout.strip() == build.cache_key() == build.cache_dir().name
    assert Path(directory.stdout.strip()) == tmp_path / "cache" / "bin" / build.cache_key()
