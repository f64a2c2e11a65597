"""`auditbench harness bench`: the harness's own figures (load-generator ceiling vs apiserver
saturation, the orchestrator's CPU during a ~1,000 req/s variant, start-to-ready)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from bench.durations import parse_duration
from bench.errors import InputError

app = typer.Typer(no_args_is_help=True, help="Benchmark the harness itself.")
out = Console()

FIGURES = ("loadgen", "saturation", "harness-cpu", "start")
LOADGEN_GOAL = 5.0  # generator ceiling / apiserver saturation
HARNESS_GOAL = 0.10  # cores of the orchestrator besides Locust
START_GOAL_S = 5.0


@app.command("bench")
def bench_cmd(
    duration: str = typer.Option("10s", "--duration", help="Traffic window of each load figure."),
    users: int = typer.Option(32, "--users", min=1, max=1000, help="Closed-loop users for the ceiling and saturation."),
    rate: float = typer.Option(1000.0, "--rate", help="Open-loop rate of the harness-CPU variant (req/s)."),
    starts: int = typer.Option(3, "--starts", min=1, max=20, help="Start/stop cycles for start-to-ready."),
    only: str = typer.Option(",".join(FIGURES), "--only", help="Comma-separated subset of: " + ", ".join(FIGURES)),
    pin: bool = typer.Option(True, "--pin/--no-pin", help="Control plane and load side on disjoint CPUs."),
    fmt: str = typer.Option("text", "--format", help="text or json"),
) -> None:
    """Measure the harness on this machine and print the figures next to their goals."""
    from bench.controlplane.build import resolve
    from bench.harness import benchmark as hb
    from bench.measure.variant import cpu_split

    chosen = [f.strip() for f in only.split(",") if f.strip()]
    if not chosen or any(f not in FIGURES for f in chosen):
        raise InputError("command line", "--only", f"choose from {', '.join(FIGURES)}, got {only!r}")
    if fmt not in ("text", "json"):
        raise InputError("command line", "--format", f"must be text or json, got {fmt!r}")
    if not 0 < rate <= 20_000:
        raise InputError("command line", "--rate", f"must be above 0 and at most 20000, got {rate:g}")
    try:
        window = parse_duration(duration)
    except ValueError:
        raise InputError("command line", "--duration", f"not a duration: {duration!r}") from None
    if not 1 <= window <= 300:
        raise InputError("command line", "--duration", "must be between 1s and 5m")
    split = cpu_split(pin)
    say = (lambda m: None) if fmt == "json" else (lambda m: out.print(m, highlight=False))
    doc: dict[str, Any] = {"load_average": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count(),
                           "pinning": {"control_plane": sorted(split[0]), "load": sorted(split[1])} if split else None}
    say(f"load average at start {doc['load_average']}, {doc['cpus']} CPUs, pinning {doc['pinning']}")
    needs_cluster = any(f in chosen for f in ("saturation", "harness-cpu", "start"))
    bins = resolve(allow_build=False) if needs_cluster else None
    if "loadgen" in chosen:
        say(f"load generator vs a trivial loopback endpoint ({users} users, {window:g}s) ...")
        doc["loadgen"] = hb.loadgen_ceiling(window, users, split[1] if split else None, split[0] if split else None)
        say(_line("  ", doc["loadgen"]))
    if "saturation" in chosen and bins is not None:
        say(f"apiserver saturation, closed loop, no audit ({users} users, {window:g}s) ...")
        doc["saturation"] = hb.apiserver_saturation(bins, window, users, split)
        say(_line("  ", doc["saturation"]))
    if "harness-cpu" in chosen and bins is not None:
        say(f"harness CPU during an open-loop variant at {rate:g} req/s ({window:g}s window) ...")
        doc["harness_cpu"] = hb.harness_cpu(bins, rate, window, pin)
        say(_line("  ", doc["harness_cpu"]))
    if "start" in chosen and bins is not None:
        from bench.controlplane.startup import summary, time_starts
        from bench.paths import project_root

        say(f"start-to-ready, {starts} starts ...")
        doc["start"] = summary(time_starts(starts, project_root() / "policies" / "seed-production.yaml", bins))
    doc["verdicts"] = verdicts(doc)
    if fmt == "json":
        print(json.dumps(doc, indent=2, sort_keys=True))
        return
    for line in doc["verdicts"]:
        out.print(line, highlight=False)


def _line(indent: str, figures: dict[str, Any]) -> str:
    return indent + ", ".join(f"{k} {v}" for k, v in figures.items())


def verdicts(doc: dict[str, Any]) -> list[str]:
    """One line per figure, with its goal and whether this run met it."""
    lines = []
    gen, sat = doc.get("loadgen"), doc.get("saturation")
    if gen and sat and gen.get("rps_per_loadgen_core") and sat.get("achieved_rps"):
        lines += _loadgen_verdict(gen, sat)
    elif gen and gen.get("rps_per_loadgen_core"):
        lines.append(f"load generator {gen['rps_per_loadgen_core']:,} req/s per core")
    cpu = doc.get("harness_cpu")
    if cpu:
        share = cpu["harness_cores"]
        lines.append(f"harness CPU {share:.1%} of one core during {cpu['achieved_rps']} req/s (target {cpu['target_rps']:g}) "
                     f"(goal <= {HARNESS_GOAL:.0%}: {'met' if share <= HARNESS_GOAL else 'NOT met'})")
    start = doc.get("start")
    if start:
        med = start["ready_median_s"]
        lines.append(f"start-to-ready median {med:.2f}s (min {start['ready_min_s']:.2f}s, max {start['ready_max_s']:.2f}s, "
                     f"{start['starts']} starts) (goal <= {START_GOAL_S:g}s: {'met' if med <= START_GOAL_S else 'NOT met'})")
    return lines


def _loadgen_verdict(gen: dict[str, Any], sat: dict[str, Any]) -> list[str]:
    """The generator's requests per core against the apiserver's saturation rate.

    On a shared machine the apiserver may not get its whole CPU set, and then its measured
    rate understates what it serves alone. The goal is judged against the larger of the measured
    rate and (requests per control-plane CPU-second x its CPUs), so contention never flatters it."""
    cpus = sat["control_plane_cpus"]
    alone = (sat.get("rps_per_control_plane_core") or 0) * cpus
    saturation = max(sat["achieved_rps"], alone)
    ratio = gen["rps_per_loadgen_core"] / saturation
    # Against the apiserver itself the generator spends more per request (larger responses).
    in_situ = (sat["rps_per_loadgen_core"] or 0) / saturation
    lines = [f"load generator {gen['rps_per_loadgen_core']:,} req/s per core (trivial endpoint; "
             f"{sat['rps_per_loadgen_core']:,} against the apiserver) vs apiserver saturation {saturation:,.0f} req/s "
             f"on {cpus} CPU(s): {ratio:.1f}x ({in_situ:.1f}x in situ) "
             f"(goal >= {LOADGEN_GOAL:g}x: {'met' if ratio >= LOADGEN_GOAL else 'NOT met'})"]
    if sat["apiserver_cores"] < 0.8 * cpus:
        lines.append(f"  note: the apiserver used {sat['apiserver_cores']:.2f} of its {cpus} CPU(s) and reached "
                     f"{sat['achieved_rps']:,} req/s (other processes on its CPUs, or another limit); the saturation "
                     f"above is {sat['rps_per_control_plane_core']:,} req/s per apiserver+etcd CPU-second x {cpus}")
    return lines


@app.command("noise")
def noise_cmd(
    policy: Path = typer.Option(Path("policies/metadata-all.yaml"), "--policy", help="Audit policy of the variant."),
    rate: float = typer.Option(200.0, "--rate", help="Open-loop rate (req/s), below the machine's capacity."),
    duration: str = typer.Option("20s", "--duration", help="Window of each repeat."),
    repeats: int = typer.Option(4, "--repeats", min=2, max=50),
    profile: str = typer.Option("mixed", "--profile"),
    seed: int = typer.Option(0, "--seed"),
    from_run: str | None = typer.Option(None, "--from", help="Print the figures of an earlier noise run "
                                        "(run id or directory) instead of running one."),
) -> None:
    """Repeat one variant at a fixed rate and print each cost figure's coefficient of variation
    over the repeats next to its goal (CPU/request 3%, heap allocations/request 2%, bytes/request 1%),
    and an A/A check of the comparison method on those repeats."""
    import tempfile

    import yaml
    from rich.table import Table

    from bench.harness import noise
    from bench.measure.variant import MeasureOptions
    from bench.results import store
    from bench.runner import run_scenario

    if from_run is not None:
        from bench.report.build import load_run

        run_dir = load_run(from_run).run_dir
    else:
        if not policy.is_file():
            raise InputError(policy, None, "policy file not found")
        with tempfile.TemporaryDirectory(prefix="auditbench-noise-") as tmp:
            path = Path(tmp) / "noise.yaml"
            path.write_text(yaml.safe_dump(noise.scenario(policy, rate, duration, repeats, profile, seed),
                                           sort_keys=False))
            run_dir = run_scenario(path, options=MeasureOptions(echo=lambda m: out.print(m, highlight=False)),
                                   console=out).run_dir
    frame = store.load_frame(run_dir)
    table = Table("figure", "repeats", "mean", "CV", "goal", "met")
    for r in noise.noise_rows(frame):
        table.add_row(noise.LABELS[r.metric], str(r.n), "–" if r.mean is None else f"{r.mean:,.4g}",
                      "–" if r.cv is None else f"{r.cv:.2%}", "–" if r.goal is None else f"≤ {r.goal:.0%}",
                      {True: "yes", False: "[red]no[/red]", None: "–"}[r.met])
    out.print(table)
    aa = Table("figure", "random A/A splits", f"called different ({noise.AA_PAIRS} pairs, 95%)", "expected")
    aa_rows = noise.aa_rows(frame)
    for a in aa_rows:
        aa.add_row(noise.LABELS[a.metric], f"{a.splits:,}", "–" if a.rate is None else f"{a.rate:.1%}", "about 5%")
    if any(a.splits for a in aa_rows):
        out.print(aa)
    else:
        out.print(f"(the A/A check needs at least {2 * noise.AA_PAIRS} repeats: --repeats)", highlight=False)
    out.print(f"results: {run_dir}", highlight=False)
