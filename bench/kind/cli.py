"""CLI: `auditbench kind config`, `kind check`, `kind up`, `kind down`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from bench.audit_options import AuditOptions, audit_options
from bench.outputs import output_dir
from bench.kind import config as kc

app = typer.Typer(no_args_is_help=True, help="kind backend: the same audit settings through kind's cluster config.")
out = Console()

Out = Annotated[Optional[Path], typer.Option("--out", help="Directory for the config, mounts and logs (default ./kind-NAME).")]
Name = Annotated[str, typer.Option("--name", help="kind cluster name.")]
Image = Annotated[str, typer.Option("--image", help="Node image (pin the digest from the kind release notes).")]


_POLICY_HELP = "Audit policy file (required for kind)."
_POLICY_NEEDED = "the kind backend needs an audit policy file"


def _report(files: kc.KindFiles, name: str) -> None:
    from bench.kind.validate import validate

    result = validate(files.config, files.expected_args, kubeadm_dir=files.config.parent / "kubeadm")
    out.print(f"config:     {files.config}", highlight=False)
    out.print(f"mounts:     {files.mounts_dir} -> {kc.NODE_AUDIT_DIR} (read-only)", highlight=False)
    out.print(f"audit log:  {files.audit_log} (written by root in the node)", highlight=False)
    out.print(f"[green]kind {result.kind_version} accepts it[/green]: all {len(files.expected_args)} audit flags reach "
              f"{result.kubeadm_api_version} for Kubernetes {result.kubernetes_version} "
              f"(rendered kubeadm config: {result.kubeadm_config})", highlight=False)


@app.command("config")
@audit_options(policy_help=_POLICY_HELP)
def config_cmd(
    audit: AuditOptions, out_dir: Out = None, name: Name = kc.DEFAULT_NAME, image: Image = kc.DEFAULT_IMAGE,
    webhook_url: Annotated[Optional[str], typer.Option("--webhook-url", help="Receiver URL as the node sees it.")] = None,
    webhook_ca: Annotated[Optional[Path], typer.Option("--webhook-ca", help="CA of the receiver's certificate.")] = None,
) -> None:
    """Write a kind cluster config with the audit flags, its mounts dir, and validate it with kind's code."""
    from bench.errors import InputError

    settings = audit.settings(policy_needed=_POLICY_NEEDED)
    target = None
    if settings.webhook.enabled:
        if not webhook_url or webhook_ca is None:
            raise InputError("command line", "--webhook-url", "--webhook needs --webhook-url and --webhook-ca "
                             "(or use `auditbench kind up --webhook`, which starts a receiver)")
        if not webhook_ca.is_file():
            raise InputError(webhook_ca, None, "CA file not found")
        target = kc.WebhookTarget(webhook_url, webhook_ca)
    base = output_dir(out_dir or Path.cwd() / f"kind-{name}", "--out")
    files = kc.write_kind_files(settings, base, name=name, image=image, webhook=target)
    _report(files, name)
    out.print(f"next: kind create cluster --config {files.config} --name {name}", highlight=False)


@app.command("check")
def check_cmd(
    config: Annotated[Path, typer.Argument(help="A kind cluster config file.")],
    kubernetes_version: Annotated[Optional[str], typer.Option("--kubernetes-version", help="Node Kubernetes version if the image tag has none.")] = None,
) -> None:
    """Run kind's own config code on any config and show the apiserver args kubeadm would get."""
    from bench.errors import InputError
    from bench.kind.validate import validate

    if not config.is_file():
        raise InputError(config, None, "file not found")
    result = validate(config, kubernetes_version=kubernetes_version)
    out.print(f"kind {result.kind_version} accepts {config}; kubeadm {result.kubeadm_api_version} "
              f"(Kubernetes {result.kubernetes_version}) gets these apiserver extraArgs:", highlight=False)
    audit = {k: v for k, v in result.apiserver_args.items() if k.startswith("audit-")}
    for k, v in result.apiserver_args.items():
        out.print(f"  --{k}={v}", highlight=False)
    if not audit:
        out.print("[yellow]no audit flags reach the apiserver[/yellow] (a versioned map-style patch is dropped for node images >= 1.36)")
        raise typer.Exit(1)


@app.command("up")
@audit_options(policy_help=_POLICY_HELP)
def up_cmd(
    audit: AuditOptions, out_dir: Out = None, name: Name = kc.DEFAULT_NAME, image: Image = kc.DEFAULT_IMAGE,
    webhook_address: Annotated[Optional[str], typer.Option("--webhook-address", help="Host address the node reaches the receiver on (default: docker network gateway).")] = None,
    detach: Annotated[bool, typer.Option("--detach", help="Leave the cluster running and exit (not with --webhook).")] = False,
    retain: Annotated[bool, typer.Option("--retain", help="Keep a cluster whose audit flags are missing, to inspect it.")] = False,
) -> None:
    """Create a kind cluster with these audit settings, prove the flags reached the apiserver, stay up until Ctrl-C."""
    from bench.signals import term_as_interrupt
    from bench.errors import InputError
    from bench.kind.cluster import KindCluster
    from bench.kind.commands import preflight
    from bench.kind.network import receiver_address

    settings = audit.settings(policy_needed=_POLICY_NEEDED)
    webhook = settings.webhook.enabled
    if detach and webhook:
        raise InputError("command line", "--detach", "the webhook receiver lives in this process; drop --detach")
    preflight(kind_version=kc.KIND_VERSION)  # before a receiver or any file: exit 3 with the hint
    base = output_dir(out_dir or Path.cwd() / f"kind-{name}", "--out").resolve()
    receiver = None
    target = None
    if webhook:
        from bench.webhook.receiver import Receiver

        receiver = Receiver.start_in(base / "webhook", host=webhook_address or receiver_address())
        target = kc.WebhookTarget(receiver.url, receiver.ca_file)
    term_as_interrupt()
    cluster = None
    try:
        files = kc.write_kind_files(settings, base, name=name, image=image, webhook=target)
        cluster = KindCluster(files, name, retain=retain)
        out.print(f"creating kind cluster {name} ({image.split('@')[0]}) …", highlight=False)
        started = time.monotonic()
        cluster.create()
        out.print(f"[green]ready[/green] in {time.monotonic() - started:.0f}s; audit flags verified in "
                  f"{cluster.node}:/etc/kubernetes/manifests/kube-apiserver.yaml", highlight=False)
        out.print(f"kubeconfig: {cluster.kubeconfig}", highlight=False)
        out.print(f"audit log:  {cluster.audit_log} (root-owned: read with sudo)", highlight=False)
        if receiver is not None:
            out.print(f"webhook:    {receiver.url} (captures in {receiver.capture_path})", highlight=False)
        if detach:
            out.print(f"left running; delete with `auditbench kind down --name {name}`", highlight=False)
            cluster = None
            return
        out.print("press Ctrl-C to delete the cluster")
        while True:
            time.sleep(1.0)
    except KeyboardInterrupt:
        out.print("deleting")
    finally:
        if cluster is not None and cluster.created:
            cluster.delete()
        if receiver is not None:
            receiver.stop()


@app.command("verify")
def verify_cmd(
    config: Annotated[Path, typer.Argument(help="The kind config the cluster was created from.")],
    name: Name = kc.DEFAULT_NAME,
) -> None:
    """Prove a running cluster's kube-apiserver has every audit flag of CONFIG (for clusters made with `kind create`)."""
    from bench.errors import InputError
    from bench.kind.cluster import KindCluster
    from bench.kind.commands import preflight

    if not config.is_file():
        raise InputError(config, None, "file not found")
    files = kc.load_kind_files(config)
    preflight(kind_version=kc.KIND_VERSION)
    pod = KindCluster(files, name).verify()
    audit = sorted(k for k in pod.args if k.startswith("audit-"))
    out.print(f"[green]ok[/green]: {name}-control-plane runs kube-apiserver with all {len(files.expected_args)} audit "
              f"flags of {config} ({len(audit)} audit flags in its manifest)", highlight=False)


@app.command("down")
def down_cmd(name: Name = kc.DEFAULT_NAME) -> None:
    """Delete a kind cluster created by `auditbench kind up --detach`."""
    from bench.kind.commands import checked, run

    checked(run, ["kind", "delete", "cluster", "--name", name], 180.0, "kind delete cluster")
    out.print(f"deleted kind cluster {name}", highlight=False)
