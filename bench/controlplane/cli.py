"""CLI: `controlplane build`, `up`, `doctor`, `cleanup`."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from bench.controlplane import build as cpbuild
from bench.controlplane.audit import AuditSettings
from bench.errors import InputError

build_app = typer.Typer(no_args_is_help=True, help="Build and inspect the local control plane.")
out = Console()


@build_app.command("build")
def build_cmd(
    force: bool = typer.Option(False, "--force", help="Rebuild even if the cache is complete."),
) -> None:
    """Build kube-apiserver, kube-controller-manager and etcd into the user cache (reused when complete)."""
    started = time.monotonic()
    bins, record = cpbuild.build(force=force, echo=lambda m: out.print(m, highlight=False))
    elapsed = time.monotonic() - started
    src = "reused cache" if bins.source == "cache" else "built"
    out.print(f"{src} in {elapsed:.1f}s (build record: {record.get('build_seconds')}s, "
              f"peak memory {record.get('peak_tree_rss_bytes', 0) / 2**30:.2f} GiB)", highlight=False)
    for name in cpbuild.BINARIES:
        out.print(f"  {name}: {bins.as_dict()[name]}", highlight=False, soft_wrap=True)


@build_app.command("versions")
def versions_cmd(bin_dir: Optional[str] = typer.Option(None, "--bin-dir", help="Directory with your own binaries.")) -> None:
    """Print the versions the binaries report (runs each with --version)."""
    bins = cpbuild.resolve(bin_dir, allow_build=False)
    api = cpbuild.binary_version(bins.kube_apiserver, cpbuild._K8S_VERSION)
    kcm = cpbuild.binary_version(bins.kube_controller_manager, cpbuild._K8S_VERSION)
    etcd = cpbuild.binary_version(bins.etcd, cpbuild._ETCD_VERSION)
    out.print(f"kube-apiserver {api}\nkube-controller-manager {kcm}\netcd {etcd}", highlight=False)


@build_app.command("bench")
def bench_cmd(
    starts: int = typer.Option(5, "--starts", min=1, max=50, help="How many start/stop cycles."),
    policy: Optional[Path] = typer.Option(None, "--policy", help="Audit policy for the cluster (default: the article's)."),
) -> None:
    """Measure start-to-ready and stop times of the local backend with cached binaries."""
    import statistics

    from bench.controlplane.local import LocalCluster
    from bench.paths import project_root

    bins = cpbuild.resolve(allow_build=False)
    policy = policy or project_root() / "policies" / "seed-production.yaml"
    ready, stops = [], []
    for i in range(starts):
        cluster = LocalCluster(audit=AuditSettings(policy=policy.resolve()), binaries=bins)
        with cluster:
            ready.append(cluster.timings.total_s)
            t = cluster.timings
            out.print(f"start {i + 1}: etcd {t.etcd_s:.2f}s, apiserver ready {t.apiserver_s:.2f}s, "
                      f"rbac {t.rbac_s:.2f}s, controller-manager {t.controller_manager_s:.2f}s", highlight=False)
            t0 = time.monotonic()
        stops.append(time.monotonic() - t0)
        cluster.cleanup_run_dir()
    out.print(f"start-to-ready: median {statistics.median(ready):.2f}s, min {min(ready):.2f}s, max {max(ready):.2f}s "
              f"over {starts} starts; stop: median {statistics.median(stops):.2f}s", highlight=False)


def settings_from_options(
    policy: Optional[Path], log: bool, log_maxage: int, log_maxbackup: int, log_maxsize: int, log_mode: str,
    webhook: bool, webhook_mode: str, batch_max_wait: str, batch_max_size: int, batch_buffer_size: int,
    throttle_enable: bool, throttle_qps: float, throttle_burst: int,
) -> AuditSettings:
    """CLI options to the typed settings; a bad value names the flag and exits 2."""
    from pydantic import ValidationError

    if policy is not None and not policy.is_file():
        raise InputError(policy, None, "policy file not found")
    if policy is not None:
        from bench.policy.loader import load_policy  # validates like the apiserver

        load_policy(policy)
    try:
        # Validated as one nested document so an error's location names the whole flag.
        return AuditSettings.model_validate({
            "policy": policy.resolve() if policy else None,
            "log": {"enabled": log, "maxage": log_maxage, "maxbackup": log_maxbackup, "maxsize": log_maxsize, "mode": log_mode},
            "webhook": {
                "enabled": webhook, "mode": webhook_mode,
                "batch": {"max_wait": batch_max_wait, "max_size": batch_max_size, "buffer_size": batch_buffer_size,
                          "throttle_enable": throttle_enable, "throttle_qps": throttle_qps, "throttle_burst": throttle_burst},
            },
        })
    except ValidationError as exc:
        first = exc.errors()[0]
        flag = "--" + "-".join(str(x) for x in first["loc"]).replace("_", "-")  # loc mirrors the flag names
        raise InputError("command line", flag, first["msg"]) from None


def register(app: typer.Typer) -> None:
    @app.command("up")
    def up(
        policy: Optional[Path] = typer.Option(None, "--policy", help="Audit policy file (none: no auditing)."),
        log: bool = typer.Option(True, "--log/--no-log", help="Log file backend."),
        log_maxage: int = typer.Option(30, "--log-maxage"),
        log_maxbackup: int = typer.Option(10, "--log-maxbackup"),
        log_maxsize: int = typer.Option(100, "--log-maxsize", help="MB before rotation."),
        log_mode: str = typer.Option("blocking", "--log-mode"),
        webhook: bool = typer.Option(False, "--webhook/--no-webhook", help="Webhook backend with a local receiver."),
        webhook_mode: str = typer.Option("batch", "--webhook-mode"),
        batch_max_wait: str = typer.Option("30s", "--webhook-batch-max-wait"),
        batch_max_size: int = typer.Option(400, "--webhook-batch-max-size"),
        batch_buffer_size: int = typer.Option(10000, "--webhook-batch-buffer-size"),
        throttle_enable: bool = typer.Option(True, "--webhook-batch-throttle-enable/--no-webhook-batch-throttle"),
        throttle_qps: float = typer.Option(10.0, "--webhook-batch-throttle-qps"),
        throttle_burst: int = typer.Option(15, "--webhook-batch-throttle-burst"),
        run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="Where certificates, logs and audit logs go."),
        bin_dir: Optional[str] = typer.Option(None, "--bin-dir", envvar="AUDITBENCH_BIN_DIR", help="Use your own binaries."),
    ) -> None:
        """Start a local cluster and keep it up until Ctrl-C, then clean up."""
        from bench.controlplane.local import LocalCluster

        settings = settings_from_options(policy, log, log_maxage, log_maxbackup, log_maxsize, log_mode, webhook,
                                         webhook_mode, batch_max_wait, batch_max_size, batch_buffer_size,
                                         throttle_enable, throttle_qps, throttle_burst)
        bins = cpbuild.resolve(bin_dir, echo=lambda m: out.print(m, highlight=False))
        receiver = None
        webhook_cfg = None
        if settings.policy is not None and settings.webhook.enabled:
            from bench.measure.webhook import Receiver

            base = run_dir or Path.cwd()
            receiver = Receiver.start_in(base / "webhook")
            webhook_cfg = receiver.kubeconfig_path
        _term_as_interrupt()
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
        """Report what is present for each backend and what to do about anything missing."""
        from bench.doctor import checks

        table = Table("check", "status", "detail")
        bad = 0
        for name, ok, detail in checks():
            table.add_row(name, "[green]ok[/green]" if ok else "[yellow]missing[/yellow]", detail)
            bad += 0 if ok else 1
        out.print(table)


def _term_as_interrupt() -> None:
    """SIGTERM/SIGHUP take the same clean path as Ctrl-C."""
    def handler(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)
