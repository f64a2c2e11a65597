"""Run a scenario matrix: interleaved repeats, per-variant timeouts, resume, clean Ctrl-C.

The control-plane binaries are resolved (and built, the first time: about ten minutes) before
the run starts, with their own progress line, so a build never counts against a variant's
timeout; Ctrl-C or SIGTERM during the build kills the whole `go build` process group.

Every finished variant is written (atomically) before the next starts, so an interrupted
or killed run keeps what finished and `--resume RUN_ID` picks up the rest.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from bench.controlplane.build import resolve
from bench.errors import InputError
from bench.measure.variant import MeasureOptions, measure_variant
from bench.results import store
from bench.results.schema import VariantResult
from bench.scenario.loader import dump_scenario, load_scenario, scenario_sha256
from bench.scenario.matrix import Variant, expand, order_from_manifest, remaining, schedule


class VariantTimeout(BaseException):
    """Raised by the per-variant alarm. A BaseException so that measurement code's
    `except Exception` does not swallow it; `finally` blocks still stop the cluster."""


@dataclass
class RunOutcome:
    run_dir: Path
    run_id: str
    results: list[VariantResult]
    status: str


def _on_alarm(signum: int, frame: Any) -> None:  # noqa: ARG001
    raise VariantTimeout


def _timeout_result(variant: Variant, run_id: str, repeat: int, seed: int, limit: float) -> VariantResult:
    return VariantResult.model_validate({
        "run_id": run_id, "variant_id": variant.id, "repeat": repeat, "status": "timeout",
        "error": f"variant exceeded its {limit:.0f}s limit", "variant": variant.spec_dict(),
        "metadata": {"seed": seed, "backend": variant.backend, "ended_at": store.utc_now()},
    })


def prepare_binaries(options: MeasureOptions, console: Console) -> None:
    """Resolve the control-plane binaries, building them if the cache has none."""
    started = time.monotonic()
    bins = resolve(options.bin_dir, echo=lambda m: console.print(m, highlight=False))
    console.print(f"control plane: {bins.kubernetes_version}, etcd {bins.etcd_version} ({bins.source}, "
                  f"{time.monotonic() - started:.1f}s)", highlight=False)


def run_scenario(
    scenario_path: str | Path,
    resume: str | None = None,
    options: MeasureOptions | None = None,
    root: Path | None = None,
    console: Console | None = None,
    measure: Callable[..., VariantResult] = measure_variant,
    prepare: Callable[[MeasureOptions, Console], None] = prepare_binaries,
) -> RunOutcome:
    console = console or Console()
    options = options or MeasureOptions(echo=lambda m: console.print(m, highlight=False))
    scenario = load_scenario(scenario_path)
    if scenario.backend != "local":
        raise InputError(scenario_path, "backend", "only the local backend runs scenarios here; "
                         "for kind, generate the cluster config with `auditbench kind config`")
    variants = expand(scenario)
    sha = scenario_sha256(scenario)
    prepare(options, console)  # before any variant's timer, and before the run directory exists
    if resume:
        run_dir = store.resolve_run(resume, root)
        manifest = store.read_manifest(run_dir)
        if manifest.scenario_sha256 != sha:
            raise InputError(scenario_path, None, f"the scenario changed since run {manifest.run_id} started; "
                             "resume needs the same scenario")
        order = order_from_manifest(variants, [(s.variant_id, s.repeat) for s in manifest.order])
        done = [(f.variant_id, f.repeat) for f in manifest.finished if f.status == "ok"]
        todo = remaining(order, done)
        manifest = store.set_status(run_dir, manifest, "running")
    else:
        order = schedule(variants, scenario.repeats, scenario.seed)
        run_dir, manifest = store.create_run(
            scenario.name, sha, dump_scenario(scenario), [(v.id, r) for v, r in order], root=root,
        )
        todo = order
    run_id = manifest.run_id
    console.print(f"run [bold]{run_id}[/bold]: {len(variants)} variants × {scenario.repeats} repeat(s), "
                  f"{len(todo)} to run → {run_dir}", highlight=False)
    results: list[VariantResult] = []
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), console=console)
    status = "complete"
    try:
        with progress:
            task = progress.add_task("starting", total=len(todo))
            for variant, repeat in todo:
                progress.update(task, description=f"{variant.id} r{repeat}")
                seed = scenario.seed * 1000 + repeat
                signal.setitimer(signal.ITIMER_REAL, variant.timeout_s)
                try:
                    result = measure(variant, run_id, repeat, seed, run_dir, options)
                except VariantTimeout:
                    result = _timeout_result(variant, run_id, repeat, seed, variant.timeout_s)
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                manifest = store.record_finished(run_dir, manifest, result, replace=True)
                results.append(result)
                progress.advance(task)
                mark = "[green]ok[/green]" if result.status == "ok" else f"[red]{result.status}[/red]"
                progress.console.print(f"{mark} {variant.id} r{repeat}" + (f": {result.error}" if result.error else ""),
                                       highlight=False)
    except KeyboardInterrupt:
        status = "interrupted"
        store.set_status(run_dir, manifest, "interrupted")
        console.print(f"interrupted; finished variants are kept. Resume with: auditbench run {scenario_path} --resume {run_id}",
                      highlight=False)
        raise
    finally:
        signal.signal(signal.SIGALRM, previous)
    if results and all(r.status != "ok" for r in results):
        status = "failed"
    store.set_status(run_dir, manifest, status)  # type: ignore[arg-type]
    return RunOutcome(run_dir, run_id, results, status)
