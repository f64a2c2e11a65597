"""AuditSettings -> a kind cluster config (kind.x-k8s.io/v1alpha4) plus the host files it mounts.

The control-plane node gets one kubeadmConfigPatches entry: an UNVERSIONED ClusterConfiguration
patch with map-style apiServer.extraArgs (every audit flag, with in-node paths) and extraVolumes
for the policy dir and the log dir. extraMounts bring the host's policy dir (policy, webhook
kubeconfig and CA) into the node and the node's audit log dir out to the host.

Why unversioned (the pitfall): from node images at v1.36 on, kind renders its kubeadm config as
kubeadm.k8s.io/v1beta4, where extraArgs is a list of {name, value}. kind's patch code
(pkg/internal/patch/kubeadm_merge.go, mergeExtraArgs) converts map-style extraArgs to that list
only when the patch declares no apiVersion. A patch that says `apiVersion: kubeadm.k8s.io/v1beta4`
with map-style extraArgs has its extraArgs silently dropped (the extraVolumes still apply, so the
apiserver starts fine, without auditing); one that says v1beta3 does not match the v1beta4
document and is dropped whole. Both were reproduced with kind v0.33.0's own code (kindcheck).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml

from bench.atomic import write_text
from bench.controlplane.audit import AuditSettings, audit_flags
from bench.controlplane.kubeconfig import webhook_kubeconfig
from bench.controlplane.pki import write_private
from bench.errors import InputError

# The kind release whose config code kindcheck runs and the workflow installs.
KIND_VERSION = "v0.33.0"
# Node images built for kind v0.33.0, from its release notes (kind wants the digest pinned:
# a bare tag may point at an image built for another kind release).
NODE_IMAGES = {
    "v1.37.0": "kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5",
    "v1.36.4": "kindest/node:v1.36.4@sha256:099e049362a1526b2db71494e1947aae99bd16290d7c895f2b7ea312e3cbfaed",
    "v1.35.8": "kindest/node:v1.35.8@sha256:07b2536e30b803ed61d1677a79df6115f798ce64c80f9e22f6ed45afd09323c0",
}
DEFAULT_IMAGE = NODE_IMAGES["v1.37.0"]
DEFAULT_NAME = "auditbench"

# In-node paths; the host side is whatever directory the user picks.
NODE_AUDIT_DIR = PurePosixPath("/etc/kubernetes/audit")
NODE_POLICY = NODE_AUDIT_DIR / "policy.yaml"
NODE_WEBHOOK_KUBECONFIG = NODE_AUDIT_DIR / "webhook.kubeconfig"
NODE_WEBHOOK_CA = NODE_AUDIT_DIR / "webhook-ca.crt"
NODE_TOKENS = NODE_AUDIT_DIR / "tokens.csv"  # kind scenarios: the traffic identities' static tokens
NODE_LOG_DIR = PurePosixPath("/var/log/kubernetes/audit")
NODE_LOG = NODE_LOG_DIR / "audit.log"

CONFIG_NAME = "kind-config.yaml"
MOUNTS_DIR = "audit"  # host side of NODE_AUDIT_DIR
LOGS_DIR = "logs"  # host side of NODE_LOG_DIR

_NAME = re.compile(r"^[a-z0-9.-]+$")  # kind's validNameRE


@dataclass(frozen=True)
class WebhookTarget:
    """Where the node's kube-apiserver sends audit batches: a URL reachable from inside the node
    container and the CA that signed the receiver's certificate (copied into the mounts dir)."""

    server_url: str
    ca_file: Path


@dataclass(frozen=True)
class KindFiles:
    config: Path
    mounts_dir: Path
    log_dir: Path
    expected_args: dict[str, str]  # apiserver extraArgs the node must end up with

    @property
    def audit_log(self) -> Path:
        return self.log_dir / NODE_LOG.name


def in_node_flags(settings: AuditSettings) -> list[str]:
    """The same flags as the local backend, with the node's paths."""
    if settings.policy is None:
        return []
    node = settings.model_copy(update={"policy": Path(str(NODE_POLICY))})
    return audit_flags(node, Path(str(NODE_LOG)), Path(str(NODE_WEBHOOK_KUBECONFIG)))


def flags_to_args(flags: list[str]) -> dict[str, str]:
    """`--name=value` flags to kubeadm's map-style extraArgs (values are strings there)."""
    args: dict[str, str] = {}
    for flag in flags:
        name, sep, value = flag.removeprefix("--").partition("=")
        if not sep or not flag.startswith("--"):
            raise ValueError(f"flag {flag!r} is not --name=value")
        args[name] = value
    return args


def cluster_patch(settings: AuditSettings, extra_args: dict[str, str] | None = None) -> str:
    """The kubeadm ClusterConfiguration patch, deliberately without apiVersion (see module doc)."""
    patch = {
        "kind": "ClusterConfiguration",
        "apiServer": {
            "extraArgs": {**flags_to_args(in_node_flags(settings)), **(extra_args or {})},
            "extraVolumes": [
                {"name": "audit-config", "hostPath": str(NODE_AUDIT_DIR), "mountPath": str(NODE_AUDIT_DIR),
                 "readOnly": True, "pathType": "DirectoryOrCreate"},
                {"name": "audit-logs", "hostPath": str(NODE_LOG_DIR), "mountPath": str(NODE_LOG_DIR),
                 "readOnly": False, "pathType": "DirectoryOrCreate"},
            ],
        },
    }
    return yaml.safe_dump(patch, sort_keys=False)


def cluster_config(settings: AuditSettings, *, mounts_dir: Path, log_dir: Path, name: str = DEFAULT_NAME,
                   image: str = DEFAULT_IMAGE, extra_args: dict[str, str] | None = None) -> dict:
    """The kind Cluster document. Host paths must be absolute (kind resolves relative ones
    against its own working directory, which is rarely what the user meant)."""
    if not _NAME.match(name):
        raise InputError("command line", "--name", f"{name!r} is not a valid kind cluster name (lowercase letters, digits, . and - only)")
    if settings.policy is None and not extra_args:  # a scenario's no-audit baseline still has its token file
        raise InputError("command line", "--policy", "the kind backend needs an audit policy (no policy: use plain kind)")
    node = {
        "role": "control-plane",
        "image": image,
        "kubeadmConfigPatches": [cluster_patch(settings, extra_args)],
        "extraMounts": [
            {"hostPath": str(mounts_dir.resolve()), "containerPath": str(NODE_AUDIT_DIR), "readOnly": True},
            {"hostPath": str(log_dir.resolve()), "containerPath": str(NODE_LOG_DIR)},
        ],
    }
    return {"kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha4", "name": name, "nodes": [node]}


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (the kubeadm patch) as `|` blocks, so the config reads like kind's docs."""


_BlockDumper.add_representer(
    str, lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", v, style="|" if "\n" in v else None))


_HEADER = """\
# kind cluster config generated by `auditbench kind config` (kind {kind}).
# The kubeadm patch has no apiVersion on purpose: since node images 1.36 kind emits kubeadm
# v1beta4 and converts map-style extraArgs only in unversioned patches; a versioned map-style
# patch is silently not applied. After `kind create cluster`, check the flags with
#   docker exec {name}-control-plane grep audit- /etc/kubernetes/manifests/kube-apiserver.yaml
"""


def write_kind_files(settings: AuditSettings, out_dir: Path, *, name: str = DEFAULT_NAME, image: str = DEFAULT_IMAGE,
                     webhook: WebhookTarget | None = None, token_file: Path | None = None,
                     extra_args: dict[str, str] | None = None) -> KindFiles:
    """Write out_dir/kind-config.yaml, out_dir/audit/ (policy, webhook kubeconfig + CA) and out_dir/logs/.

    ``token_file``: a --token-auth-file for the apiserver (kind scenarios: the traffic's
    identities authenticate as on the local backend), copied 0600 into the mounts dir.
    ``extra_args``: more apiserver flags for the patch (verified in the manifest like the rest)."""
    if settings.webhook.enabled and settings.policy is not None and webhook is None:
        raise InputError("command line", "--webhook", "the kind backend needs the receiver's URL and CA for the webhook")
    out_dir = out_dir.resolve()
    mounts, logs = out_dir / MOUNTS_DIR, out_dir / LOGS_DIR
    extra = {"token-auth-file": str(NODE_TOKENS)} if token_file is not None else {}
    extra.update(extra_args or {})
    doc = cluster_config(settings, mounts_dir=mounts, log_dir=logs, name=name, image=image, extra_args=extra)
    mounts.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    if token_file is not None:
        write_private(mounts / NODE_TOKENS.name, token_file.read_bytes())
    if settings.policy is not None:  # None: a scenario's no-audit baseline
        shutil.copyfile(settings.policy, mounts / NODE_POLICY.name)
    if settings.webhook.enabled and webhook is not None:
        shutil.copyfile(webhook.ca_file, mounts / NODE_WEBHOOK_CA.name)
        write_text(mounts / NODE_WEBHOOK_KUBECONFIG.name,
                   webhook_kubeconfig(webhook.server_url, Path(str(NODE_WEBHOOK_CA))))
    text = _HEADER.format(kind=KIND_VERSION, name=name) + yaml.dump(doc, Dumper=_BlockDumper, sort_keys=False)
    config = write_text(out_dir / CONFIG_NAME, text)
    expected = {**flags_to_args(in_node_flags(settings)), **extra}
    check_patches(config, expected)
    return KindFiles(config, mounts, logs, expected)


def patch_args(config: Path) -> dict[str, str]:
    """The apiServer extraArgs a written config's control-plane patches ask for. Refuses what kind
    would silently drop: a versioned ClusterConfiguration patch, or list-style extraArgs in one."""
    try:
        doc = yaml.safe_load(config.read_text())
    except yaml.YAMLError as exc:
        raise InputError(config, None, f"not YAML: {exc}") from None
    nodes = [n for n in (doc or {}).get("nodes") or [] if n.get("role") == "control-plane"]
    if not nodes:
        raise InputError(config, "nodes", "no control-plane node")
    args: dict[str, str] = {}
    for i, text in enumerate(nodes[0].get("kubeadmConfigPatches") or []):
        field = f"nodes[0].kubeadmConfigPatches[{i}]"
        try:
            patch = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InputError(config, field, f"not YAML: {exc}") from None
        if not isinstance(patch, dict) or patch.get("kind") != "ClusterConfiguration":
            continue
        if "apiVersion" in patch:
            raise InputError(config, field, "a versioned ClusterConfiguration patch: kind drops its map-style "
                             "extraArgs for node images >= 1.36 (leave apiVersion out)")
        extra = (patch.get("apiServer") or {}).get("extraArgs") or {}
        if not isinstance(extra, dict):
            raise InputError(config, field + ".apiServer.extraArgs", "expected map-style extraArgs")
        args.update({str(k): str(v) for k, v in extra.items()})
    return args


def check_patches(config: Path, expected: dict[str, str]) -> None:
    """Python-side check of a written config: the control-plane patch parses as YAML, carries no
    apiVersion, and holds every expected extraArg with its value (map style)."""
    args = patch_args(config)
    missing = {k: v for k, v in expected.items() if args.get(k) != v}
    if missing:
        first = next(iter(missing))
        raise InputError(config, "nodes[0].kubeadmConfigPatches",
                         f"{len(missing)} audit flag(s) missing or different, first --{first}={missing[first]}")


def load_kind_files(config: Path) -> KindFiles:
    """KindFiles for a config written earlier (e.g. by `auditbench kind config`): the expected
    flags are the audit-* extraArgs of its patch, the dirs come from its extraMounts."""
    config = config.resolve()
    args = {k: v for k, v in patch_args(config).items() if k.startswith("audit-")}
    if not args:
        raise InputError(config, "nodes[0].kubeadmConfigPatches", "no audit-* extraArgs in the control-plane patch")
    node = next(n for n in yaml.safe_load(config.read_text())["nodes"] if n.get("role") == "control-plane")
    mounts = {m.get("containerPath"): Path(m.get("hostPath", "")) for m in node.get("extraMounts") or []}
    missing = [p for p in (str(NODE_AUDIT_DIR), str(NODE_LOG_DIR)) if p not in mounts]
    if missing:
        raise InputError(config, "nodes[0].extraMounts", f"no mount for {missing[0]}")
    return KindFiles(config, mounts[str(NODE_AUDIT_DIR)], mounts[str(NODE_LOG_DIR)], args)
