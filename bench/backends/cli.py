"""`auditbench external ...` and the options `measure` and `run` take for the external backend."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from bench.errors import InputError

app = typer.Typer(no_args_is_help=True, help="external backend: a cluster you run, reached through a kubeconfig.")
out = Console()

Kubeconfig = Annotated[Optional[Path], typer.Option("--kubeconfig", help="backend external: the cluster's kubeconfig.")]
Context = Annotated[Optional[str], typer.Option("--context", help="backend external: kubeconfig context (default: current-context).")]
AuditLog = Annotated[Optional[Path], typer.Option("--audit-log", help="backend external: the cluster's audit log, readable here.")]
WebhookReceiver = Annotated[Optional[Path], typer.Option(
    "--webhook-receiver", help="backend external: a dir from `auditbench external receiver` the cluster's webhook points at.")]
AllowRemote = Annotated[bool, typer.Option(
    "--allow-remote", help="backend external: send traffic to a server off this machine (refused without it).")]
ClusterWrites = Annotated[bool, typer.Option(
    "--cluster-scoped-writes", help="backend external: let the traffic create fake Nodes and a ClusterRoleBinding "
    "to cluster-admin (ab-<run>-*, deleted at the end); off: those classes are left out.")]
Wait = Annotated[str, typer.Option("--sink-wait", help="backend external: how long a marker request may take "
                                   "to reach the log or the receiver (above the webhook's batch-max-wait).")]


def external_options(kubeconfig: Path | None, context: str | None, audit_log: Path | None,
                     webhook_receiver: Path | None, allow_remote: bool, cluster_writes: bool, wait: str):
    """ExternalOptions from the flags, or None when none of them was given; bad values exit 2."""
    from bench.backends.external import ExternalOptions
    from bench.durations import parse_duration

    given = [f for f, v in (("--context", context), ("--audit-log", audit_log), ("--webhook-receiver", webhook_receiver),
                            ("--allow-remote", allow_remote), ("--cluster-scoped-writes", cluster_writes)) if v]
    if kubeconfig is None:
        if given:
            raise InputError("command line", given[0], "applies to the external backend (with --kubeconfig)")
        return None
    if not kubeconfig.expanduser().is_file():
        raise InputError(kubeconfig, "--kubeconfig", "no such file")
    if webhook_receiver is not None and not webhook_receiver.is_dir():
        raise InputError(webhook_receiver, "--webhook-receiver", "no such directory")
    try:
        wait_s = parse_duration(wait)
    except ValueError as exc:
        raise InputError("command line", "--sink-wait", str(exc)) from None
    if not 1.0 <= wait_s <= 600.0:
        raise InputError("command line", "--sink-wait", "must be between 1s and 10m")
    return ExternalOptions(kubeconfig.expanduser(), context, audit_log, webhook_receiver, allow_remote, cluster_writes,
                           wait_s)


@app.command("receiver")
def receiver_cmd(
    directory: Annotated[Path, typer.Option("--dir", help="Where the receiver's certificate and webhook kubeconfig go.")],
    address: Annotated[str, typer.Option("--address", help="An address of this machine the apiservers can reach "
                                         "(loopback or private; never a wildcard).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 9443,
) -> None:
    """Make a fixed receiver address and CA for an external cluster's audit webhook, and print the
    kube-apiserver flags that point the cluster at it."""
    from bench.backends.external import write_receiver_dir
    from bench.outputs import output_dir

    spec = write_receiver_dir(output_dir(directory, "--dir"), address, port)
    out.print(f"receiver:   {spec.url} (certificate for {address}; CA {spec.pki_dir / 'ca.crt'})", highlight=False, soft_wrap=True)
    out.print(f"kubeconfig: {spec.kubeconfig} (CA embedded: copy this one file to every control-plane node)",
              highlight=False, soft_wrap=True)
    out.print("add to every kube-apiserver (the path as the node sees the copy):", highlight=False, soft_wrap=True)
    for flag in spec.apiserver_flags():
        out.print(f"  {flag}", highlight=False, soft_wrap=True)
    out.print(f"then measure with: --backend external --kubeconfig FILE --webhook-receiver {spec.directory}",
              highlight=False, soft_wrap=True)


@app.command("preflight")
def preflight_cmd(kubeconfig: Kubeconfig = None, context: Context = None, audit_log: AuditLog = None,
                  webhook_receiver: WebhookReceiver = None, allow_remote: AllowRemote = False,
                  cluster_writes: ClusterWrites = False, wait: Wait = "40s") -> None:
    """Ask the cluster what this kubeconfig's user may do and print what a run would measure (no traffic)."""
    from bench.backends.external import prepare_external

    options = external_options(kubeconfig, context, audit_log, webhook_receiver, allow_remote, cluster_writes, wait)
    if options is None:
        raise InputError("command line", "--kubeconfig", "required")
    prepare_external(options, out)


@app.command("cleanup")
def cleanup_cmd(
    prefix: Annotated[str, typer.Option("--prefix", help="The run prefix (ab-xxxxxx) a result's backend_info names.")],
    kubeconfig: Kubeconfig = None, context: Context = None, allow_remote: AllowRemote = False,
) -> None:
    """Delete what a killed run left behind: its ab-<run>-* namespaces, nodes and ClusterRoleBindings."""
    import re
    import tempfile

    from bench.backends import kubeconfig as kc
    from bench.controlplane.http import Client
    from bench.traffic import fixtures
    from bench.traffic.layout import Layout

    if kubeconfig is None:
        raise InputError("command line", "--kubeconfig", "required")
    if not re.fullmatch(r"ab-[0-9a-f]{6}", prefix):
        raise InputError("command line", "--prefix", "expected ab- and six hex digits (a run's prefix)")
    with tempfile.TemporaryDirectory(prefix="auditbench-cleanup-") as tmp:
        t = kc.load(kubeconfig, context, Path(tmp), allow_remote=allow_remote)
        client = Client(t.server, str(t.ca_file), t.credentials.token, 30.0, purpose="cleanup", cert=t.cert,
                        allow_remote=allow_remote)
        layout = Layout(prefix)
        td = fixtures.teardown(client, layout)
        left = fixtures.wait_namespaces_gone(client, layout, timeout_s=120.0)
        client.close()
    out.print(f"deleted: {', '.join(f'{len(v)} {k}' for k, v in td.deleted.items())}"
              + (f"; errors: {'; '.join(td.errors)}" if td.errors else "")
              + (f"; still terminating: {', '.join(left)}" if left else ""), highlight=False, soft_wrap=True)
