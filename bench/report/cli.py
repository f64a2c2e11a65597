"""`auditbench compare`, `report` and `capacity`: argument mapping onto bench.report.build."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bench import atomic
from bench.outputs import output_dir, output_file

out = Console()

ResultsDir = Annotated[
    Path | None,
    typer.Option("--results-dir", help="Results root (default: ./results or $AUDITBENCH_RESULTS_DIR)."),
]


def compare(
    reference: Annotated[str, typer.Argument(help="RUN_ID (or path, or 'latest'), or RUN_ID:VARIANT_ID.")],
    candidate: Annotated[str, typer.Argument(help="RUN_ID, or RUN_ID:VARIANT_ID; ratios are candidate / reference.")],
    fail_on: Annotated[list[str] | None, typer.Option("--fail-on", help="Gate such as 'p99_latency_ratio>1.10'; exit 1 when tripped. Repeatable.")] = None,
    junit: Annotated[Path | None, typer.Option("--junit", help="Write JUnit XML here.")] = None,
    markdown: Annotated[Path | None, typer.Option("--markdown", help="Write the markdown summary here (e.g. $GITHUB_STEP_SUMMARY).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    results_dir: ResultsDir = None,
) -> None:
    """Compare two runs (variants matched by id) or two variants, side by side, with gates."""
    from bench.report.build import run_compare

    for path, flag in ((junit, "--junit"), (markdown, "--markdown")):
        if path is not None:
            output_file(path, flag)
    outcome = run_compare(reference, candidate, fail_on or [], root=results_dir, seed=seed)
    out.print(outcome.markdown, markup=False, highlight=False)
    if junit:
        atomic.write_text(junit, outcome.junit)
    if markdown:
        atomic.write_text(markdown, outcome.markdown)
    if outcome.tripped:
        # sys.exit, not typer.Exit: bench.cli.main runs click with standalone_mode=False,
        # where a typer.Exit's code is returned, not raised, and would be lost.
        sys.exit(1)


def report(
    run: Annotated[str, typer.Argument(help="RUN_ID, a run directory, or 'latest'.")],
    out_dir: Annotated[Path | None, typer.Option("--out", help="Directory for the report (default: the run directory).")] = None,
    detections: Annotated[str | None, typer.Option("--detections", help="Detections for the coverage section (file or shipped set; default auditbench-traffic).")] = None,
    results_dir: ResultsDir = None,
) -> None:
    """Write report.md, report.html, plots and PerfData JSON for a run."""
    from bench.report.build import build_report

    if out_dir is not None:
        output_dir(out_dir, "--out")
    files = build_report(run, out=out_dir, root=results_dir, detections=detections)
    out.print(f"plots: {len(files.plots)}, PerfData: {files.perfdata}")
    out.print(f"report: {files.markdown}")
    out.print(f"report: {files.html}")


def capacity(
    run: Annotated[str, typer.Argument(help="RUN_ID, a run directory, or 'latest'.")],
    rate: Annotated[float, typer.Option("--rate", help="Target API requests per second.")],
    profile: Annotated[str, typer.Option("--profile", help="Traffic profile whose per-request costs to use.")] = "mixed",
    retention_days: Annotated[float | None, typer.Option("--retention-days", help="Days of audit logs that must be kept.")] = None,
    burst: Annotated[float, typer.Option("--burst", help="Burst event rate as a multiple of the steady rate.")] = 3.0,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Directory for the plan (default: the run directory).")] = None,
    detections: Annotated[str | None, typer.Option("--detections", help="Detections for the coverage columns (file or shipped set; default auditbench-traffic).")] = None,
    results_dir: ResultsDir = None,
) -> None:
    """Project disk, rotation, webhook headroom and CPU for each policy at a target rate, next to which detections each keeps."""
    from bench.report.build import build_capacity

    if out_dir is not None:
        output_dir(out_dir, "--out")
    files = build_capacity(run, rate, profile, retention_days, burst, out=out_dir, root=results_dir, detections=detections)
    out.print(files.text, markup=False, highlight=False)
    out.print(f"capacity plan: {files.markdown}")


def plan(
    run: Annotated[str, typer.Argument(help="RUN_ID, a run directory, or 'latest'.")],
    detect: Annotated[str, typer.Option("--detect", help="Smallest difference to detect, e.g. 5% or 0.05.")] = "5%",
    longer: Annotated[float, typer.Option("--longer", min=1.0, help="Also plan for windows this many times longer.")] = 2.0,
    results_dir: ResultsDir = None,
) -> None:
    """Repeats and window length that would detect a given difference at 95% confidence and
    80% power, from this run's own repeat-to-repeat noise."""
    from bench.report.build import build_plan

    out.print(build_plan(run, _fraction(detect), longer, root=results_dir), markup=False, highlight=False)


def _fraction(text: str) -> float:
    from bench.errors import InputError

    t = text.strip()
    try:
        value = float(t[:-1]) / 100 if t.endswith("%") else float(t)
    except ValueError:
        raise InputError("command line", "--detect", f"expected a difference such as 5% or 0.05, got {text!r}") from None
    if not 0 < value < 1:
        raise InputError("command line", "--detect", f"must be between 0% and 100%, got {text!r}")
    return value


def claims(
    run: Annotated[str, typer.Argument(help="RUN_ID, a run directory (e.g. results/examples/seed-claims), or 'latest'.")],
    rate: Annotated[float | None, typer.Option("--rate", help="Also the capacity rows at this rate (req/s).")] = None,
    profile: Annotated[str, typer.Option("--profile", help="Traffic profile of the capacity rows.")] = "mixed",
    results_dir: ResultsDir = None,
) -> None:
    """Print the article's claims (verdicts, reasons, figures) and capacity rows of a run as markdown:
    what the README shows, from the run's own files."""
    from bench.report.summary import summary

    print(summary(run, rate, profile, root=results_dir), end="")


def example(
    run: Annotated[str, typer.Argument(help="RUN_ID, a run directory, or 'latest'.")],
    name: Annotated[str, typer.Option("--name", help="Directory name under results/examples/.")],
    results_dir: ResultsDir = None,
) -> None:
    """Copy a run's summary (run.json, scenario.yaml, variant results, report.md, capacity plans;
    no raw samples) into results/examples/NAME, to commit as evidence."""
    from bench.report.build import save_example

    out.print(f"example: {save_example(run, name, root=results_dir)}", highlight=False)
