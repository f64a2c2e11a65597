"""`auditbench webhook ...`: run a receiver on its own, or measure how fast it is."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from bench.controlplane.audit import WebhookBackend
from bench.errors import InputError
from bench.outputs import output_dir
from bench.formats import HELP as FORMAT_HELP
from bench.formats import Format

webhook_app = typer.Typer(no_args_is_help=True, help="The audit webhook receiver: run one, or benchmark it.")
out = Console()


@webhook_app.command("bench")
def bench_cmd(
    events: int = typer.Option(500_000, help="Events to send in total (rounded up to whole batches)."),
    batch: int = typer.Option(WebhookBackend().batch.max_size, help="Events per EventList batch (default: the apiserver's batch-max-size)."),
    senders: int = typer.Option(2, help="Sender processes, each with one keep-alive HTTPS connection."),
    fmt: Format = typer.Option(Format.text, "--format", help=FORMAT_HELP),
) -> None:
    """Drive a receiver over loopback HTTPS with realistic EventList batches; print events/s and MB/s."""
    from bench.webhook.benchmark import run

    for name, value in (("--events", events), ("--batch", batch), ("--senders", senders)):
        if value <= 0:
            raise InputError(None, name, f"must be positive, got {value}")
    if events > 50_000_000:
        raise InputError(None, "--events", "at most 50,000,000 (the run must stay bounded)")
    result = run(events, batch, senders)
    if fmt is Format.json:
        print(json.dumps(result, indent=2))
        return
    lag = result["lag_ms"]
    out.print(
        f"{result['events_received']:,} events in {result['batches']:,} batches of {batch} "
        f"({result['bytes_per_event']:,} bytes/event) from {senders} sender(s) in {result['wall_s']:.2f} s\n"
        f"  throughput: [bold]{result['events_per_s']:,} events/s[/bold], {result['mb_per_s']:.1f} MB/s\n"
        f"  receiver CPU: {result['receiver_cpu_s']:.2f} s -> {result['events_per_receiver_cpu_s']:,} events per CPU-second; "
        f"senders CPU: {result['senders_cpu_s']:.2f} s\n"
        f"  delivery lag ms: p50 {lag['p50']} p90 {lag['p90']} p99 {lag['p99']} max {lag['max']}\n"
        f"  responses: {result['statuses']}",
        highlight=False,
    )


@webhook_app.command("serve")
def serve_cmd(
    directory: Path = typer.Option(..., "--dir", help="Where the certificates, kubeconfig and capture file go."),
    delay_ms: float = typer.Option(0.0, "--delay-ms", help="Fixed delay before answering each batch."),
    error_rate: float = typer.Option(0.0, "--error-rate", help="Fraction of batches answered HTTP 500."),
    seed: int = typer.Option(0, help="Seed for which batches get the injected errors."),
    down_after: Optional[float] = typer.Option(None, "--down-after", help="Seconds after start to go down."),
    down_for: float = typer.Option(0.0, "--down-for", help="Seconds to stay down (listener closed)."),
    duration: Optional[float] = typer.Option(None, help="Stop after this many seconds (default: Ctrl-C)."),
) -> None:
    """Run one receiver until Ctrl-C (or --duration); print its final counters as JSON."""
    from bench.webhook.receiver import Faults, Receiver

    if (down_after is None) != (down_for == 0):
        raise InputError(None, "--down-after/--down-for", "give both, or neither")
    faults = Faults(delay_ms=delay_ms, error_rate=error_rate, seed=seed, down_after_s=down_after, down_for_s=down_for)
    receiver = Receiver.start_in(output_dir(directory, "--dir"), faults)
    try:
        out.print(f"receiver: {receiver.url} (pid {receiver.pid})", highlight=False)
        out.print(f"kubeconfig for --audit-webhook-config-file: {receiver.kubeconfig_path}", highlight=False)
        out.print(f"capture file: {receiver.capture_path}", highlight=False)
        deadline = None if duration is None else time.monotonic() + duration
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.5 if deadline is None else max(0.0, min(0.5, deadline - time.monotonic())))
            if not receiver.running():
                break
    except KeyboardInterrupt:
        pass
    finally:
        final = receiver.stop()
    print(json.dumps(final, indent=2))
