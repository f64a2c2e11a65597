"""Top-level commands around a cluster: `up`, `demo`, `cleanup`, `doctor`.

They use the backends (bench.controlplane, bench.webhook) but live outside them."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from bench.audit_options import AuditOptions, audit_options
from bench.controlplane import build as cpbuild
from bench.outputs import output_dir
from bench.signals import term_as_interrupt

out = Console()


def register(app: typer.Typer) -> None:
    @app.command("up")
    @audit_options(policy_help="Audit policy file (none: no auditing).")
    def up(
        audit: AuditOptions,
        run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="Where certificates, logs and audit logs go."),
        bin_dir: Optional[str] = typer.Option(None, "--bin-dir", envvar="AUDITBENCH_BIN_DIR", help="Use your own binaries."),
    ) -> None:
        """Start a local cluster and keep it up until Ctrl-C, then clean up."""
        from bench.controlplane.local import LocalCluster

        settings = audit.settings()
        if run_dir is not None:
            output_dir(run_dir, "--run-dir")
        bins = cpbuild.resolve(bin_dir, echo=lambda m: out.print(m, highlight=False))
        receiver = None
        webhook_cfg = None
        if settings.policy is not None and settings.webhook.enabled:
            from bench.webhook.receiver import Receiver

            base = run_dir or Path.cwd()
            receiver = Receiver.start_in(base / "webhook")
            webhook_cfg = receiver.kubeconfig_path
        term_as_interrupt()
        cluster = LocalCluster(audit=settings, binaries=bins, run_dir=run_dir, webhook_kubeconfig=webhook_cfg)
        try:
            with cluster:
                out.print(f"[green]ready[/green] in {cluster.timings.total_s:.2f}s  ({bins.kubernetes_version}, etcd {bins.etcd_version})")
                out.print(f"server:     {cluster.server}", highlight=False)
                out.print(f"kubeconfig: {cluster.kubeconfig}", highlight=False)
                out.print(f"audit log:  {cluster.audit_log_path or '(log backend off)'}", highlight=False)
                if receiver is not None:
                    out.print(f"webhook:    {receiver.url} (captures in {receiver.capture_path})", highlight=False)
                out.print(f"identities: {cluster.identities_file} (tokens; 0600)", highlight=False)
                out.print("press Ctrl-C to stop")
                while cluster.apiserver.running():
                    time.sleep(0.5)
                out.print("[red]kube-apiserver exited[/red]")
        except KeyboardInterrupt:
            out.print("stopping")
        finally:
            cluster.stop()
            if receiver is not None:
                receiver.stop()

    @app.command("demo")
    def demo() -> None:
        """Start a local cluster with the article's policy, make a few requests, print their audit events."""
        from bench.demo import run_demo

        cpbuild.resolve(echo=lambda m: out.print(m, highlight=False))
        run_demo(echo=lambda m: out.print(m, highlight=False, soft_wrap=True))

    @app.command("cleanup")
    def cleanup() -> None:
        """Kill control-plane processes left behind by a harness that died."""
        from bench.controlplane.procs import reap_orphans

        killed = reap_orphans()
        out.print("killed: " + ", ".join(killed) if killed else "nothing left behind")

    @app.command("doctor")
    def doctor() -> None:
        """Report what is present for each backend and what to do about anything missing.

        Exits 3 when something the local backend needs is missing."""
        from bench.doctor import checks, local_backend_ready

        rows = checks()
        table = Table("check", "needed by", "status", "detail")
        for c in rows:
            status = "[green]ok[/green]" if c.ok else ("[red]missing[/red]" if c.needed_by == "local" else "[yellow]missing[/yellow]")
            table.add_row(c.name, c.needed_by, status, c.detail)
        out.print(table)
        if not local_backend_ready(rows):
            out.print("[red]the local backend cannot run here[/red]: fix the rows marked missing that it needs")
            sys.exit(3)

