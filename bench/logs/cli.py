"""CLI: `auditbench logs scan|detect|bench|attribute` and the top-level `auditbench whatif`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from bench.formats import HELP as FORMAT_HELP
from bench.formats import Format
from bench.logs import reader

app = typer.Typer(no_args_is_help=True, help="Analyse audit logs and webhook captures fast (DuckDB).")
out = Console()


def _print_json(doc: object) -> None:
    # Plain print: rich would wrap long lines and break the JSON for machines.
    print(json.dumps(doc, indent=2, sort_keys=False, default=str))


@app.command("scan")
def scan_cmd(
    files: list[Path] = typer.Argument(..., help="Audit logs (plain, rotated, .gz), webhook captures (*.webhook.jsonl), EventList JSON, or directories of them."),
    top: int = typer.Option(10, "--top", min=1, help="How many top users and resources to list."),
    fmt: Format = typer.Option(Format.table, "--format", help=FORMAT_HELP),
) -> None:
    """Events and bytes by level, stage, verb, resource and user kind; top users and resources."""
    from bench.logs import render, scan

    res = scan.scan(reader.expand(files), top=top)
    if fmt is Format.json:
        _print_json(res.to_json())
    else:
        render.print_scan(out, res)


@app.command("detect")
def detect_cmd(
    files: list[Path] = typer.Argument(..., help="Audit logs, webhook captures or EventList JSON."),
    production_namespace: str = typer.Option("production", "--production-namespace", help="Namespace whose exec events are flagged."),
    detections: Optional[str] = typer.Option(None, "--detections", help="Run these detections (a file, or a shipped set: article, auditbench-traffic) instead of the article's built-in three."),
    fmt: Format = typer.Option(Format.table, "--format", help=FORMAT_HELP),
) -> None:
    """The reference article's detections: secrets read by non-service-accounts, cluster-admin bindings, exec in production."""
    if detections:
        _detect_from_file(files, detections, fmt)
        return
    # The same code as the typer-free start (bench.logs.detect_cli) that bench.cli tries first.
    from bench.logs.detect_cli import detect_command

    detect_command(files, production_namespace, fmt)


def _detect_from_file(files: list[Path], ref: str, fmt: Format) -> None:
    """Detections as data, judged event by event (the built-in three have a faster DuckDB path)."""
    from bench.logs.coverage import Collector, example
    from bench.logs.coverage_render import example_line

    dets = _load_detections(ref)
    collector = Collector(dets)
    for event, _ in reader.iter_events(reader.expand(files)):
        collector.observe(event, ())
    found = collector.finish()
    doc = {"detections": [{"name": d.name, "title": d.title, "expression": d.expression(),
                           "count": sum(f.detection == i for f in found),
                           "events": [f.event for f in found if f.detection == i]} for i, d in enumerate(dets)]}
    if fmt is Format.json:
        _print_json(doc)
        return
    for d in doc["detections"]:
        style = "red" if d["count"] else "green"
        out.print(f"[bold {style}]{d['title']}: {d['count']} event(s)[/bold {style}]", highlight=False)
        out.print(f"  {d['expression']}", highlight=False, markup=False, soft_wrap=True)
        for ev in d["events"][:50]:
            out.print(f"    {example_line(example(ev))}", highlight=False, markup=False)
        if d["count"] > 50:
            out.print(f"    … {d['count'] - 50} more (--format json lists all)", highlight=False)


@app.command("bench")
def bench_cmd(
    size: str = typer.Option("300MB", "--size", help="Size of each synthetic log (e.g. 300MB, 1GB)."),
    kinds: str = typer.Option("small,bodies", "--kind", help="Kinds of log, comma-separated: small (~1 KB Metadata/Request events), bodies (RequestResponse bodies too)."),
    keep: bool = typer.Option(False, "--keep", help="Keep the generated logs."),
    directory: Optional[Path] = typer.Option(None, "--dir", help="Where to write the logs (default: a temp dir)."),
    seed: int = typer.Option(1, "--seed", help="Seed of the synthetic logs."),
    jq: str = typer.Option("/usr/bin/jq", "--jq", help="The jq binary to compare against."),
    queries: Optional[str] = typer.Option(None, "--queries", help="Comma-separated subset of queries to run (detect_e2e: `auditbench logs detect` end to end)."),
    repeat: int = typer.Option(3, "--repeat", min=1, help="auditbench runs per query (the median counts)."),
    jq_repeat: int = typer.Option(1, "--jq-repeat", min=1, help="jq runs per query (the median counts)."),
    fmt: Format = typer.Option(Format.table, "--format", help=FORMAT_HELP),
) -> None:
    """Generate synthetic audit logs and time each query: auditbench next to jq on the same file, and
    `auditbench logs detect` end to end against the article's jq commands."""
    from bench.errors import InputError
    from bench.logs import benchmark, synth
    from bench.outputs import output_dir

    if directory is not None:
        output_dir(directory, "--dir")
    selected = [q.strip() for q in queries.split(",")] if queries else None
    chosen = [k.strip() for k in kinds.split(",") if k.strip()]
    bad = [k for k in chosen if k not in synth.PROFILES]
    if bad or not chosen:
        raise InputError(None, "--kind", f"choose from {', '.join(synth.PROFILES)}, got {kinds!r}")
    report = benchmark.run_benchmark(
        size_bytes=benchmark.parse_size(size), directory=directory, keep=keep, seed=seed, jq=jq,
        queries=selected, repeat=repeat, kinds=chosen, jq_repeat=jq_repeat,  # type: ignore[arg-type]
        echo=(lambda m: out.print(m, highlight=False)) if fmt is not Format.json else None,
    )
    if fmt is Format.json:
        _print_json(report)
    else:
        benchmark.print_report(out, report)


def _load_policies(paths: list[Path]) -> list:
    from bench.policy.loader import load_policy

    if not paths:
        from bench.errors import InputError

        raise InputError(None, "--policy", "give at least one policy")
    return [load_policy(p) for p in paths]


def whatif(
    captures: list[Path] = typer.Argument(..., help="Capture taken with a RequestResponse-for-everything policy that omits no stage (log files, webhook captures)."),
    policies: list[Path] = typer.Option([], "--policy", help="Candidate policy (repeat for several)."),
    detections: Optional[str] = typer.Option(None, "--detections", help="Detections file, or a shipped set by name (article, auditbench-traffic): per policy, which detected requests it still lets you find."),
    rate: Optional[float] = typer.Option(None, "--rate", help="API requests/s: also give each policy's bytes per day at this rate (with the capture's mix)."),
    examples: int = typer.Option(3, "--examples", min=0, help="Missed requests shown per detection and reason."),
    fmt: Format = typer.Option(Format.table, "--format", help=FORMAT_HELP),
) -> None:
    """Predict what each policy would write for the captured traffic: events and bytes by level and rule, and which detections still work."""
    from bench.errors import InputError
    from bench.logs import coverage_render, render
    from bench.logs import whatif as whatif_mod

    if rate is not None and rate <= 0:
        raise InputError(None, "--rate", "must be a positive number of requests per second")
    loaded = _load_policies(policies)
    dets = _load_detections(detections) if detections else None
    collector = None
    if dets is not None:
        from bench.logs.coverage import Collector

        collector = Collector(dets)
    result = whatif_mod.predict(reader.iter_events(reader.expand(captures)), loaded,
                                observe=collector.observe if collector else None)
    doc = result.to_json(rate)
    if collector is not None and dets is not None:
        from bench.logs.coverage import coverage

        doc["coverage"] = [c.to_json() for c in coverage(collector.finish(), dets, loaded, examples)]
    if fmt is Format.json:
        _print_json(doc)
        return
    render.print_whatif(out, doc)
    if rate is not None:
        for p in doc["predictions"]:
            out.print(f"{p['policy']}: {render.human_bytes(p['bytes_per_day'])}/day at {rate:g} requests/s "
                      f"({p['bytes_per_request']:,.0f} bytes/request)", highlight=False)
    if "coverage" in doc:
        coverage_render.print_coverage(out, doc["coverage"])


def _load_detections(ref: str) -> list:
    from bench.detections import load_detections

    return load_detections(ref)


app.command("whatif")(whatif)


@app.command("attribute")
def attribute_cmd(
    files: list[Path] = typer.Argument(..., help="Audit log(s) written under the policy."),
    policy: Path = typer.Option(..., "--policy", help="The policy that wrote the log."),
    fmt: Format = typer.Option(Format.table, "--format", help=FORMAT_HELP),
) -> None:
    """Events and bytes per policy rule: which rule makes the log big."""
    from bench.logs import attribution, render

    (loaded,) = _load_policies([policy])
    doc = attribution.attribute_sources(reader.expand(files), loaded).to_json()
    if fmt is Format.json:
        _print_json(doc)
    else:
        render.print_attribution(out, doc)
