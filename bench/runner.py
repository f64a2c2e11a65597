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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from bench.controlplane.build import resolve
from bench.errors import InputError
from bench.paths import check_writable, results_root
from bench.measure.variant import MeasureOptions, measure_variant
from bench.results import store
from bench.results.schema import MEASURED, VariantResult
from bench.scenario.check import check_scenario
from bench.scenario.loader import dump_scenario, scenario_sha256
from bench.scenario.matrix import Variant, order_from_manifest, remaining, schedule


class VariantTimeout(BaseException):
    """Raised by the per-variant alarm. A BaseException so that measurement code's
    `except Exception` does not swallow it; `finally` blocks still stop the cluster."""


@dataclass
class RunOutcome:
    run_dir: Path
    run_id: str
    results: list[VariantResult]
    status: str
    gate_results: list[Any] = field(default_factory=list)  # bench.analysis.gates.GateResult

    @property
    def gates_failed(self) -> bool:
        return any(g.tripped for g in self.gate_results)


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


def _check_releases(variants: list[Variant], options: MeasureOptions) -> None:
    """Every release of the scenario's kubernetes axis is built (never built inside a run)."""
    from bench.controlplane.releases import resolve_release

    for release in sorted({v.kubernetes for v in variants if v.kubernetes}):
        resolve_release(release, options.bin_dir, echo=options.echo)


def run_scenario(
    scenario_path: str | Path,
    resume: str | None = None,
    options: MeasureOptions | None = None,
    root: Path | None = None,
    console: Console | None = None,
    measure: Callable[..., VariantResult] = measure_variant,
    prepare: Callable[[MeasureOptions, Console], None] | None = None,
    probe: Callable[..., dict[str, Any]] | None = None,
) -> RunOutcome:
    console = console or Console()
    options = options or MeasureOptions(echo=lambda m: console.print(m, highlight=False))
    checked = check_scenario(scenario_path)  # the whole scenario, before any cluster starts
    for note in checked.notes():
        console.print(note, highlight=False, markup=False)
    scenario, variants = checked.scenario, checked.variants
    sha = scenario_sha256(scenario)
    check_writable(root or results_root())  # a refused results root fails now, not after a build
    # Before any variant's timer, and before the run directory exists: the local control
    # plane's build, kind's tools, or the external cluster's preflight (bench.backends.prepare).
    if prepare is None:
        from bench.backends import prepare as prepare_backend

        prepare_backend(scenario, options, console)
    else:
        prepare(options, console)
    if scenario.backend == "local":
        _check_releases(variants, options)
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
    probe = probe or _probe
    if any(v.load.rate_fraction is not None for v in variants):
        manifest = _calibrate(scenario, variants, run_dir, manifest, options, console, probe)
        todo = [(_at_rate(v, manifest.calibration), r) for v, r in todo]
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
                    if scenario.capacity.enabled and result.status in MEASURED:
                        progress.update(task, description=f"{variant.id} r{repeat}: capacity")
                        result = result.model_copy(update={"capacity": probe(variant, scenario.capacity, seed, options)})
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
    return RunOutcome(run_dir, run_id, results, status, check_gates(run_dir, scenario.gates))


def check_gates(run_dir: Path, gate_texts: list[str]) -> list[Any]:
    """The scenario's gates, each variant against the baseline of its profile and load."""
    if not gate_texts:
        return []
    from bench.analysis.compare import against_baseline
    from bench.analysis.gates import parse_gate

    gates = [parse_gate(g, "gates") for g in gate_texts]
    frame = store.load_frame(run_dir)
    return [r for c in against_baseline(frame) for r in c.check(gates)]


def _probe(variant: Variant, settings: Any, seed: int, options: MeasureOptions) -> dict[str, Any]:
    import shutil
    import tempfile

    from bench.controlplane.build import resolve
    from bench.measure.capacity import probe_variant
    from bench.measure.variant import cpu_split

    scratch = Path(tempfile.mkdtemp(prefix=f"auditbench-probe-{variant.id}-", dir=options.scratch_root))
    try:
        from bench.controlplane.procs import measured_nice

        return probe_variant(variant, resolve(options.bin_dir, echo=options.echo), settings, seed, scratch,
                             cpu_split(options.pin_cpus), echo=options.echo,
                             nice=measured_nice() if options.priority else None)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _calibrate(scenario: Any, variants: list[Variant], run_dir: Path, manifest: Any, options: MeasureOptions,
               console: Console, probe: Callable[..., dict[str, Any]]) -> Any:
    """capacity_fractions: probe each profile's baseline once, before any repeat, so every
    variant of every repeat runs at the same absolute rates (stored for --resume)."""
    calibration = dict(manifest.calibration)
    for profile in scenario.traffic.profiles:
        if profile in calibration:
            continue
        base = next((v for v in variants if v.is_baseline and v.profile == profile), None)
        if base is None:
            raise InputError(None, "traffic.capacity_fractions", "needs the no-audit baseline (baseline: true)")
        console.print(f"calibrating: capacity of {base.id} (profile {profile})", highlight=False)
        found = probe(base, scenario.capacity, scenario.seed, options)
        if not found.get("capacity_rps"):
            raise InputError(None, "traffic.capacity_fractions",
                             f"the baseline's capacity could not be measured: {found.get('note') or 'no step passed'}")
        calibration[profile] = found
        console.print(f"  {profile}: capacity {found['capacity_rps']:.0f} req/s", highlight=False)
        manifest = store.set_calibration(run_dir, manifest, calibration)
    return manifest


def _at_rate(variant: Variant, calibration: dict[str, Any]) -> Variant:
    """A capacity-fraction variant with its absolute rate from the run's calibration."""
    if variant.load.rate_fraction is None:
        return variant
    rate = round(variant.load.rate_fraction * calibration[variant.profile]["capacity_rps"], 1)
    return replace(variant, load=replace(variant.load, target_rps=rate))
