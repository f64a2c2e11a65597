"""Did the audit flags reach the node? Read kubeadm's kube-apiserver static pod manifest.

kind can accept a config whose kubeadm patch it then drops (see config.py), and the apiserver
starts fine without auditing, so after creation the manifest kubeadm wrote into the node
(/etc/kubernetes/manifests/kube-apiserver.yaml) is the only proof that auditing is on.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from bench.errors import EnvironmentProblem

MANIFEST_PATH = "/etc/kubernetes/manifests/kube-apiserver.yaml"


class AuditNotApplied(EnvironmentProblem):
    """The cluster came up but its kube-apiserver lacks audit flags or mounts (exit code 3)."""


@dataclass(frozen=True)
class ApiserverPod:
    args: dict[str, str]  # --name=value from the container command (last one wins, as in pflag)
    mounts: dict[str, str]  # mountPath -> volume name
    host_paths: dict[str, str]  # volume name -> hostPath path


def parse(text: str) -> ApiserverPod:
    """Parse a kube-apiserver static pod manifest (as kubeadm writes it)."""
    try:
        pod = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise AuditNotApplied(f"{MANIFEST_PATH} is not YAML: {exc}") from None
    spec = (pod.get("spec") or {}) if isinstance(pod, dict) else {}
    containers = [c for c in spec.get("containers") or [] if c.get("name") == "kube-apiserver"]
    if not containers:
        raise AuditNotApplied(f"{MANIFEST_PATH} has no kube-apiserver container")
    container = containers[0]
    args: dict[str, str] = {}
    for item in [*(container.get("command") or []), *(container.get("args") or [])]:
        if isinstance(item, str) and item.startswith("--"):
            name, _, value = item[2:].partition("=")
            args[name] = value
    mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts") or []}
    host_paths = {v["name"]: (v.get("hostPath") or {}).get("path", "") for v in spec.get("volumes") or []}
    return ApiserverPod(args, mounts, host_paths)


def problems(pod: ApiserverPod, expected_args: dict[str, str], mount_dirs: list[str]) -> list[str]:
    """Everything about the pod that differs from what the config asked for."""
    found = []
    for name, value in expected_args.items():
        if name not in pod.args:
            found.append(f"--{name} missing")
        elif pod.args[name] != value:
            found.append(f"--{name}={pod.args[name]} (expected {value})")
    for path in mount_dirs:
        volume = pod.mounts.get(path)
        if volume is None:
            found.append(f"no volume mounted at {path}")
        elif pod.host_paths.get(volume) != path:
            found.append(f"volume {volume} at {path} is not hostPath {path}")
    return found


def check(text: str, expected_args: dict[str, str], mount_dirs: list[str], *, node: str) -> ApiserverPod:
    """Raise AuditNotApplied naming every missing flag; return the parsed pod when all is there."""
    pod = parse(text)
    found = problems(pod, expected_args, mount_dirs)
    if found:
        shown = "; ".join(found[:6]) + (f"; and {len(found) - 6} more" if len(found) > 6 else "")
        raise AuditNotApplied(
            f"the kube-apiserver in {node} is NOT auditing as configured: {len(found)} problem(s) in "
            f"{MANIFEST_PATH}: {shown}",
            "kind dropped the kubeadm patch; a patch with apiVersion and map-style extraArgs is "
            "silently ignored for node images >= 1.36 (see docs/kind.md)",
        )
    return pod
