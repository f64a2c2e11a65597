"""CLI: `auditbench run SCENARIO` (a matrix) and `auditbench measure` (one variant)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from bench.audit_options import AuditOptions, audit_options
from bench.backends.cli import AllowRemote, AuditLog, ClusterWrites, Context, Kubeconfig, Wait, WebhookReceiver, external_options
from bench.formats import HELP as FORMAT_HELP
from bench.formats import Format

if TYPE_CHECKING:  # the result schema is only needed once a run has finished
    from bench.results.schema import VariantResult

# Wide when not on a terminal (CI logs, pipes) so the summary table stays readable.
out = Console() if Console().is_terminal else Console(width=180)


def _summary_table(results: list[VariantResult]) -> Table:
    table = Table("variant", "r", "status", "req/s", "p50 ms", "p99 ms", "apiserver CPU ms/1k", "audit B/req", "events/req", "webhook batches")
    for r in results:
        lat = r.latency_client.overall if r.latency_client else None
        log = r.audit.log if r.audit else None
        wh = r.audit.webhook if r.audit else None

        def f(x: float | None, fmt: str = "{:.2f}") -> str:
            return "—" if x is None else fmt.format(x)

        table.add_row(
            r.variant_id, str(r.repeat), r.status if r.status == "ok" else f"[red]{r.status}[/red]",
            f(r.traffic.achieved_rps if r.traffic else None, "{:.0f}"),
            f(lat.p50_ms if lat else None), f(lat.p99_ms if lat else None),
            f(r.apiserver.cpu_ms_per_1k_requests if r.apiserver else None, "{:.0f}"),
            f(log.bytes_per_request if log else None, "{:.0f}"), f(log.events_per_request if log else None),
            f(float(wh.batches) if wh and wh.batches is not None else None, "{:.0f}"),
        )
    return table


def _print_flags(results: list[VariantResult]) -> None:
    """Why a measured variant's figures need a second look: never only in the JSON."""
    for r in results:
        for flag in r.flags:
            out.print(f"[yellow]flag[/yellow] {r.variant_id} r{r.repeat}: {flag}", highlight=False, soft_wrap=True)


def _check(scenario: Path) -> None:
    from bench.scenario.check import check_scenario
    from bench.scenario.loader import find_scenario

    checked = check_scenario(find_scenario(scenario))
    for note in checked.notes():
        out.print(note, highlight=False, markup=False)
    s = checked.scenario
    out.print(f"{checked.path}: ok, {len(checked.variants)} variants × {s.repeats} repeat(s), "
              f"each up to {s.variant_timeout_s():.0f}s", highlight=False)
    for v in checked.variants:
        out.print(f"  {v.id}", highlight=False)


AUDIT_LOG_DIR_HELP = ("Write each variant's audit log in its own directory under this one (default: the variant's "
                      "scratch), e.g. another disk, or a small tmpfs to see what a full disk does.")


def _log_dir(path: Path | None) -> Path | None:
    if path is None:
        return None
    if not path.is_dir():
        from bench.errors import InputError

        raise InputError("command line", "--audit-log-dir", f"{path} is not a directory")
    return path.resolve()


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run(
        scenario: Annotated[Path, typer.Argument(help="Scenario YAML (e.g. scenarios/smoke.yaml) or a name in scenarios/.")],
        resume: Annotated[Optional[str], typer.Option("--resume", help="RUN_ID of an interrupted run: skip what finished.")] = None,
        report: Annotated[bool, typer.Option("--report/--no-report", help="Write report.md/report.html at the end.")] = True,
        workers: Annotated[int, typer.Option("--workers", min=0, max=64, help="Locust worker processes (0: single process).")] = 0,
        pin: Annotated[bool, typer.Option("--pin/--no-pin", help="Pin control plane and load side to disjoint CPUs.")] = True,
        bin_dir: Annotated[Optional[str], typer.Option("--bin-dir", envvar="AUDITBENCH_BIN_DIR")] = None,
        check: Annotated[bool, typer.Option("--check", help="Check the scenario whole (policies, matrix, apiserver flags), list its variants, start nothing.")] = False,
        kubeconfig: Kubeconfig = None, context: Context = None, audit_log: AuditLog = None,
        webhook_receiver: WebhookReceiver = None, allow_remote: AllowRemote = False,
        cluster_writes: ClusterWrites = False, sink_wait: Wait = "40s",
        audit_log_dir: Annotated[Optional[Path], typer.Option("--audit-log-dir", help=AUDIT_LOG_DIR_HELP)] = None,
    ) -> None:
        """Run a scenario matrix; results land in results/<run-id>/."""
        target = external_options(kubeconfig, context, audit_log, webhook_receiver, allow_remote, cluster_writes, sink_wait)
        if check:
            _check(scenario)
            return
        from bench.measure.variant import MeasureOptions
        from bench.runner import run_scenario
        from bench.scenario.loader import find_scenario

        options = MeasureOptions(bin_dir=bin_dir, pin_cpus=pin, workers=workers, target=target, audit_log_dir=_log_dir(audit_log_dir),
                                 echo=lambda m: out.print(m, highlight=False))
        outcome = run_scenario(find_scenario(scenario), resume=resume, options=options, console=out)
        out.print(_summary_table(outcome.results))
        out.print(f"results: {outcome.run_dir}", highlight=False)
        _print_flags(outcome.results)
        from bench.results.schema import MEASURED

        if report and any(r.status in MEASURED for r in outcome.results):
            from bench.report.build import build_report

            files = build_report(outcome.run_dir)
            out.print(f"report: {files.markdown}\n        {files.html}", highlight=False)
        bad = [f"{r.variant_id} r{r.repeat}: {r.status}" for r in outcome.results if r.status != "ok"]
        if bad:  # a failed, timed-out, leaking or flagged variant fails the run (CI gates rely on it)
            out.print("[red]not ok:[/red] " + "; ".join(bad), highlight=False)
        for g in outcome.gate_results:
            if g.tripped:
                out.print(f"[red]gate {g.outcome}[/red] {g.subject}: {g.gate.text} (value {g.value}){' — ' + g.note if g.note else ''}",
                          highlight=False, soft_wrap=True)
        if bad or outcome.gates_failed:
            sys.exit(1)

    @app.command("measure")
    @audit_options(policy_help="Audit policy file (required).")
    def measure(
        audit: AuditOptions,
        profile: Annotated[str, typer.Option("--profile", help="Traffic profile.")] = "mixed",
        duration: Annotated[str, typer.Option("--duration", help="Measured window, e.g. 60s.")] = "60s",
        warmup: Annotated[str, typer.Option("--warmup")] = "5s",
        users: Annotated[Optional[int], typer.Option("--users", help="Closed loop: concurrent users.")] = None,
        rate: Annotated[Optional[float], typer.Option("--rate", help="Open loop: target requests/s.")] = None,
        receiver_delay_ms: Annotated[float, typer.Option("--receiver-delay-ms")] = 0.0,
        receiver_error_rate: Annotated[float, typer.Option("--receiver-error-rate")] = 0.0,
        receiver_down_for: Annotated[float, typer.Option("--receiver-down-for", help="Seconds the receiver is down mid-window.")] = 0.0,
        seed: Annotated[int, typer.Option("--seed")] = 0,
        fmt: Annotated[Format, typer.Option("--format", help=FORMAT_HELP)] = Format.text,
        pin: Annotated[bool, typer.Option("--pin/--no-pin")] = True,
        workers: Annotated[int, typer.Option("--workers", min=0, max=64)] = 0,
        bin_dir: Annotated[Optional[str], typer.Option("--bin-dir", envvar="AUDITBENCH_BIN_DIR")] = None,
        backend: Annotated[str, typer.Option("--backend", help="local (default), kind (a fresh kind cluster) or "
                                             "external (--kubeconfig: a cluster you run, audit settings as configured).")] = "local",
        kind_image: Annotated[Optional[str], typer.Option("--kind-image", help="backend kind: the node image.")] = None,
        kubeconfig: Kubeconfig = None, context: Context = None, audit_log: AuditLog = None,
        webhook_receiver: WebhookReceiver = None, allow_remote: AllowRemote = False,
        cluster_writes: ClusterWrites = False, sink_wait: Wait = "40s",
        audit_log_dir: Annotated[Optional[Path], typer.Option("--audit-log-dir", help=AUDIT_LOG_DIR_HELP)] = None,
    ) -> None:
        """Measure one variant end to end (local backend by default) and write results/<run-id>/."""
        import tempfile

        import yaml

        from bench.errors import InputError
        from bench.measure.variant import MeasureOptions
        from bench.runner import run_scenario
        from bench.scenario.single import single_variant

        if backend not in ("local", "kind", "external"):
            raise InputError("command line", "--backend", f"must be local, kind or external, not {backend!r}")
        target = external_options(kubeconfig, context, audit_log, webhook_receiver, allow_remote, cluster_writes, sink_wait)
        if (backend == "external") != (target is not None):
            raise InputError("command line", "--kubeconfig", "goes with --backend external (and it needs --kubeconfig)")
        settings = audit.settings() if backend == "external" else audit.settings(
            policy_needed="measure needs the audit policy to measure")
        log_dir = _log_dir(audit_log_dir)
        doc = single_variant(settings, profile=profile, duration=duration, warmup=warmup, users=users, rate=rate,
                             receiver={"delay_ms": receiver_delay_ms, "error_rate": receiver_error_rate,
                                       "down_for_s": receiver_down_for}, seed=seed, backend=backend,
                             kind_image=kind_image)
        with tempfile.TemporaryDirectory(prefix="auditbench-measure-") as tmp:
            path = Path(tmp) / "measure.yaml"
            path.write_text(yaml.safe_dump(doc, sort_keys=False))
            quiet = Console(stderr=True) if fmt is Format.json else out
            options = MeasureOptions(bin_dir=bin_dir, pin_cpus=pin, workers=workers, target=target, audit_log_dir=log_dir,
                                     echo=lambda m: quiet.print(m, highlight=False))
            outcome = run_scenario(path, options=options, console=quiet)
        if fmt is Format.json:
            print(json.dumps([r.model_dump(mode="json") for r in outcome.results][0], indent=2, sort_keys=True))
        else:
            out.print(_summary_table(outcome.results))
            _print_flags(outcome.results)
            out.print(f"results: {outcome.run_dir}", highlight=False)
        if any(r.status != "ok" for r in outcome.results):
            sys.exit(1)
