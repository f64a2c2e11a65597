"""Validate a kind config with kind's own Go code (controlplane/kindcheck), built once and cached.

kindcheck runs, from the pinned kind release, what `kind create cluster` runs before it first
talks to docker: strict decoding into the v1alpha4 types, defaulting, kind's Validate, and the
kubeadm config kind would write into the node with the kubeadmConfigPatches applied. So a config
that passes here has been accepted by kind's code, and the apiserver extraArgs compared below are
the ones kubeadm in the node will be given (for the node image's Kubernetes version).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.controlplane.build import go_env
from bench.errors import EnvironmentProblem, InputError
from bench.paths import cache_root, project_root

_BUILD_TIMEOUT = 600.0
_RUN_TIMEOUT = 60.0


@dataclass(frozen=True)
class Validation:
    """What kind's code made of a config, for the first control-plane node."""

    kind_version: str
    kubernetes_version: str
    kubeadm_api_version: str
    apiserver_args: dict[str, str]
    extra_volumes: list[dict[str, Any]]
    kubeadm_config: Path | None  # the rendered /kind/kubeadm.conf, when asked for

    @classmethod
    def from_report(cls, report: dict[str, Any]) -> Validation:
        node = report["control_plane_nodes"][0]
        return cls(
            kind_version=report["kind_version"],
            kubernetes_version=node["kubernetes_version"],
            kubeadm_api_version=node["kubeadm_api_version"],
            apiserver_args={a["name"]: a["value"] for a in node.get("apiserver_extra_args") or []},
            extra_volumes=list(node.get("apiserver_extra_volumes") or []),
            kubeadm_config=Path(node["kubeadm_config_file"]) if node.get("kubeadm_config_file") else None,
        )


def source_dir() -> Path:
    return project_root() / "controlplane" / "kindcheck"


def _source_hash(src: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in src.iterdir() if p.is_file() and p.suffix in (".go", ".mod", ".sum")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def binary_path(src: Path | None = None) -> Path:
    src = src or source_dir()
    return cache_root() / "bin" / f"kindcheck-{_source_hash(src)}" / "kindcheck"


def build(src: Path | None = None) -> Path:
    """The cached kindcheck binary, built on first use (a few seconds with a warm Go cache)."""
    src = src or source_dir()
    target = binary_path(src)
    if target.is_file():
        return target
    if shutil.which("go") is None:
        raise EnvironmentProblem("the Go toolchain is not on PATH (needed once to build kindcheck)", "install Go 1.26 or newer")
    if not (src / "go.mod").is_file():
        raise EnvironmentProblem(f"{src} has no go.mod", "run from an auditbench checkout")
    staging = target.with_name(f"kindcheck.partial.{os.getpid()}")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        proc = subprocess.run(["go", "build", "-trimpath", "-o", str(staging), "."], cwd=src, env=go_env(),
                              capture_output=True, text=True, timeout=_BUILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise EnvironmentProblem(f"building kindcheck took over {_BUILD_TIMEOUT:.0f}s", f"try `go build` in {src}") from None
    if proc.returncode != 0:
        staging.unlink(missing_ok=True)
        raise EnvironmentProblem(f"building kindcheck failed: {proc.stderr.strip()[-500:]}", f"go build in {src}")
    os.replace(staging, target)  # visible only once complete
    return target


def run_kindcheck(config: Path, *, kubernetes_version: str | None = None, kubeadm_dir: Path | None = None) -> dict[str, Any]:
    """kindcheck's JSON report; kind rejecting the config is an InputError naming the file."""
    argv = [str(build())]
    if kubernetes_version:
        argv += ["-kubernetes-version", kubernetes_version]
    if kubeadm_dir is not None:
        argv += ["-kubeadm-dir", str(kubeadm_dir)]
    argv.append(str(config))
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=_RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise EnvironmentProblem(f"kindcheck did not finish checking {config} in {_RUN_TIMEOUT:.0f}s",
                                 "is the machine overloaded? retry, or run it by hand: " + " ".join(argv)) from None
    if proc.returncode == 1:
        reason = proc.stderr.strip().removeprefix("kindcheck: ").removeprefix(f"{config}: ")
        raise InputError(config, None, "kind rejects this config: " + " ".join(reason.split()))
    if proc.returncode != 0:
        raise EnvironmentProblem(f"kindcheck failed (exit {proc.returncode}): {' '.join(proc.stderr.split())[-500:]}")
    try:
        return json.loads(proc.stdout)
    except ValueError:
        raise EnvironmentProblem(f"kindcheck printed no JSON report: {proc.stdout.strip()[:200]!r}") from None


def validate(config: Path, expected_args: dict[str, str] | None = None, *, kubernetes_version: str | None = None,
             kubeadm_dir: Path | None = None) -> Validation:
    """Run kind's code on ``config``; with ``expected_args``, also require that every one of them
    reaches the rendered kubeadm ClusterConfiguration with the same value."""
    report = run_kindcheck(config, kubernetes_version=kubernetes_version, kubeadm_dir=kubeadm_dir)
    if not report.get("control_plane_nodes"):
        raise InputError(config, "nodes", "no control-plane node")
    result = Validation.from_report(report)
    if expected_args:
        lost = sorted(k for k, v in expected_args.items() if result.apiserver_args.get(k) != v)
        if lost:
            raise InputError(config, "nodes[0].kubeadmConfigPatches",
                             f"kind {result.kind_version} would not pass {len(lost)} of {len(expected_args)} audit flags "
                             f"to kubeadm {result.kubeadm_api_version} (Kubernetes {result.kubernetes_version}), "
                             f"first --{lost[0]}; is the patch versioned?")
    return result
