"""CLI: `auditbench run SCENARIO` (a matrix) and `auditbench measure` (one variant)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from bench.results.schema import MEASURED, VariantResult

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


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run(
        scenario: Annotated[Path, typer.Argument(help="Scenario YAML (e.g. scenarios/smoke.yaml) or a name in scenarios/.")],
        resume: Annotated[Optional[str], typer.Option("--resume", help="RUN_ID of an interrupted run: skip what finished.")] = None,
        report: Annotated[bool, typer.Option("--report/--no-report", help="Write report.md/report.html at the end.")] = True,
        workers: Annotated[int, typer.Option("--workers", min=0, max=64, help="Locust worker processes (0: single process).")] = 0,
        pin: Annotated[bool, typer.Option("--pin/--no-pin", help="Pin control plane and load side to disjoint CPUs.")] = True,
        bin_dir: Annotated[Optional[str], typer.Option("--bin-dir", envvar="AUDITBENCH_BIN_DIR")] = None,
    ) -> None:
        """Run a scenario matrix; results land in results/<run-id>/."""
        from bench.measure.variant import MeasureOptions
        from bench.runner import run_scenario
        from bench.scenario.loader import find_scenario

        options = MeasureOptions(bin_dir=bin_dir, pin_cpus=pin, workers=workers,
                                 echo=lambda m: out.print(m, highlight=False))
        outcome = run_scenario(find_scenario(scenario), resume=resume, options=options, console=out)
        out.print(_summary_table(outcome.results))
        out.print(f"results: {outcome.run_dir}", highlight=False)
        _print_flags(outcome.results)
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
    def measure(
        policy: Annotated[Path, typer.Option("--policy", help="Audit policy file.")],
        profile: Annotated[str, typer.Option("--profile", help="Traffic profile.")] = "mixed",
        duration: Annotated[str, typer.Option("--duration", help="Measured window, e.g. 60s.")] = "60s",
        warmup: Annotated[str, typer.Option("--warmup")] = "5s",
        users: Annotated[Optional[int], typer.Option("--users", help="Closed loop: concurrent users.")] = None,
        rate: Annotated[Optional[float], typer.Option("--rate", help="Open loop: target requests/s.")] = None,
        log: Annotated[bool, typer.Option("--log/--no-log")] = True,
        log_mode: Annotated[str, typer.Option("--log-mode")] = "blocking",
        log_maxsize: Annotated[int, typer.Option("--log-maxsize")] = 100,
        log_maxbackup: Annotated[int, typer.Option("--log-maxbackup")] = 10,
        log_maxage: Annotated[int, typer.Option("--log-maxage")] = 30,
        webhook: Annotated[bool, typer.Option("--webhook/--no-webhook")] = False,
        webhook_mode: Annotated[str, typer.Option("--webhook-mode")] = "batch",
        batch_max_wait: Annotated[str, typer.Option("--webhook-batch-max-wait")] = "30s",
        batch_max_size: Annotated[int, typer.Option("--webhook-batch-max-size")] = 400,
        batch_buffer_size: Annotated[int, typer.Option("--webhook-batch-buffer-size")] = 10000,
        throttle: Annotated[bool, typer.Option("--webhook-batch-throttle-enable/--no-webhook-batch-throttle")] = True,
        throttle_qps: Annotated[float, typer.Option("--webhook-batch-throttle-qps")] = 10.0,
        throttle_burst: Annotated[int, typer.Option("--webhook-batch-throttle-burst")] = 15,
        receiver_delay_ms: Annotated[float, typer.Option("--receiver-delay-ms")] = 0.0,
        receiver_error_rate: Annotated[float, typer.Option("--receiver-error-rate")] = 0.0,
        receiver_down_for: Annotated[float, typer.Option("--receiver-down-for", help="Seconds the receiver is down mid-window.")] = 0.0,
        seed: Annotated[int, typer.Option("--seed")] = 0,
        fmt: Annotated[str, typer.Option("--format", help="text or json")] = "text",
        pin: Annotated[bool, typer.Option("--pin/--no-pin")] = True,
        workers: Annotated[int, typer.Option("--workers", min=0, max=64)] = 0,
        bin_dir: Annotated[Optional[str], typer.Option("--bin-dir", envvar="AUDITBENCH_BIN_DIR")] = None,
    ) -> None:
        """Measure one variant end to end on the local backend and write results/<run-id>/."""
        import tempfile

        import yaml

        from bench.measure.variant import MeasureOptions
        from bench.runner import run_scenario

        if fmt not in ("text", "json"):
            from bench.errors import InputError

            raise InputError("command line", "--format", f"must be text or json, got {fmt!r}")
        traffic: dict = {"profiles": [profile], "duration": duration, "warmup": warmup,
                         "mode": "open" if rate else "closed"}
        if rate:
            traffic["target_rps"] = rate
        if users:
            traffic["users"] = users
        doc = {
            "name": "measure",
            "description": "one variant from `auditbench measure`",
            "policies": [str(policy.resolve())],
            "baseline": False,
            "audit": {
                "log": {"enabled": [log], "mode": [log_mode], "maxsize": log_maxsize, "maxbackup": log_maxbackup, "maxage": log_maxage},
                "webhook": {
                    "enabled": [webhook], "mode": [webhook_mode], "batch_max_wait": [batch_max_wait],
                    "batch_max_size": [batch_max_size], "batch_buffer_size": [batch_buffer_size],
                    "throttle": {"enable": throttle, "qps": throttle_qps, "burst": throttle_burst},
                    "receiver": {"delay_ms": receiver_delay_ms, "error_rate": receiver_error_rate, "down_for_s": receiver_down_for},
                },
            },
            "traffic": traffic,
            "repeats": 1,
            "seed": seed,
        }
        with tempfile.TemporaryDirectory(prefix="auditbench-measure-") as tmp:
            path = Path(tmp) / "measure.yaml"
            path.write_text(yaml.safe_dump(doc, sort_keys=False))
            quiet = Console(stderr=True) if fmt == "json" else out
            options = MeasureOptions(bin_dir=bin_dir, pin_cpus=pin, workers=workers,
                                     echo=lambda m: quiet.print(m, highlight=False))
            outcome = run_scenario(path, options=options, console=quiet)
        if fmt == "json":
            print(json.dumps([r.model_dump(mode="json") for r in outcome.results][0], indent=2, sort_keys=True))
        else:
            out.print(_summary_table(outcome.results))
            _print_flags(outcome.results)
            out.print(f"results: {outcome.run_dir}", highlight=False)
        if any(r.status != "ok" for r in outcome.results):
            sys.exit(1)
