"""The scenario runner: interleaved order, interruption keeps what finished, --resume runs the rest.

The measurement itself is replaced by a recorder of calls: these tests are about the runner's
bookkeeping (run.json, variant files, resume), which does not depend on what a measurement does.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from bench.errors import EnvironmentProblem
from bench.results import store
from bench.results.schema import VariantResult
from bench.runner import run_scenario

SCENARIO = {
    "name": "resume-test",
    "policies": ["seed-production", "metadata-all"],
    "traffic": {"profiles": ["mixed"], "users": 2, "duration": "1s", "warmup": "0s"},
    "repeats": 2,
    "seed": 3,
}


def _ok(calls: list[tuple[str, int]], stop_after: int | None = None):
    def measure(variant, run_id, repeat, seed, run_dir, options):
        if stop_after is not None and len(calls) == stop_after:
            raise KeyboardInterrupt
        calls.append((variant.id, repeat))
        return VariantResult.model_validate({
            "run_id": run_id, "variant_id": variant.id, "repeat": repeat, "status": "ok",
            "variant": variant.spec_dict(), "metadata": {"seed": seed},
        })
    return measure


def _no_build(options, console) -> None:
    pass


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(SCENARIO))
    return path


def test_interrupted_run_keeps_finished_variants_and_resume_runs_the_rest(scenario_file, tmp_path):
    root = tmp_path / "results"
    quiet = Console(file=open("/dev/null", "w"))
    first: list[tuple[str, int]] = []
    with pytest.raises(KeyboardInterrupt):
        run_scenario(scenario_file, root=root, console=quiet, measure=_ok(first, stop_after=4), prepare=_no_build)
    (run_dir,) = root.iterdir()
    manifest = store.read_manifest(run_dir)
    assert manifest.status == "interrupted"
    assert len(manifest.order) == 6  # 2 policies + baseline, 2 repeats
    assert [(f.variant_id, f.repeat) for f in manifest.finished] == first
    assert all((run_dir / f.file).exists() for f in manifest.finished)
    # repeat 1 runs every variant before repeat 2 starts (interleaving)
    assert [r for _, r in first] == [1, 1, 1, 2]

    second: list[tuple[str, int]] = []
    outcome = run_scenario(scenario_file, resume=manifest.run_id, root=root, console=quiet, measure=_ok(second), prepare=_no_build)
    assert outcome.status == "complete"
    assert set(first).isdisjoint(second)
    expected = [(s.variant_id, s.repeat) for s in manifest.order]
    assert first + second == expected
    assert store.read_manifest(run_dir).status == "complete"


def test_resume_refuses_a_changed_scenario(scenario_file, tmp_path):
    from bench.errors import InputError

    root = tmp_path / "results"
    quiet = Console(file=open("/dev/null", "w"))
    with pytest.raises(KeyboardInterrupt):
        run_scenario(scenario_file, root=root, console=quiet, measure=_ok([], stop_after=1), prepare=_no_build)
    run_id = next(root.iterdir()).name
    changed = dict(SCENARIO, repeats=3)
    scenario_file.write_text(yaml.safe_dump(changed))
    with pytest.raises(InputError):
        run_scenario(scenario_file, resume=run_id, root=root, console=quiet, measure=_ok([]), prepare=_no_build)


def test_binaries_are_prepared_before_any_variant_timer_and_run_directory(scenario_file, tmp_path):
    root = tmp_path / "results"
    quiet = Console(file=open("/dev/null", "w"))
    events: list[str] = []

    def prepare(options, console) -> None:
        assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0), "a variant timer runs during the build"
        assert not root.exists(), "the run directory exists before the build"
        events.append("prepare")

    def measure(variant, run_id, repeat, seed, run_dir, options):
        events.append("measure")
        assert signal.getitimer(signal.ITIMER_REAL)[0] > 0  # the variant's own timer runs
        return _ok([])(variant, run_id, repeat, seed, run_dir, options)

    run_scenario(scenario_file, root=root, console=quiet, measure=measure, prepare=prepare)
    assert events[0] == "prepare" and events.count("prepare") == 1 and events.count("measure") == 6


def test_a_failed_build_starts_no_run(scenario_file, tmp_path):
    root = tmp_path / "results"

    def prepare(options, console) -> None:
        raise EnvironmentProblem("go build failed")

    with pytest.raises(EnvironmentProblem):
        run_scenario(scenario_file, root=root, console=Console(file=open("/dev/null", "w")),
                     measure=_ok([]), prepare=prepare)
    assert not root.exists()

        

FRACTIONS = {**SCENARIO, "traffic": {"profiles": ["mixed"], "mode": "open", "capacity_fractions": [0.25, 0.5],
                                     "duration": "1s", "warmup": "0s"}}


def test_capacity_fractions_are_resolved_once_from_the_baselines_capacity(tmp_path):
    path = tmp_path / "f.yaml"
    path.write_text(yaml.safe_dump(FRACTIONS))
    root, quiet = tmp_path / "results", Console(file=open("/dev/null", "w"))
    probed: list[str] = []
    rates: dict[str, float] = {}

    def probe(variant, settings, seed, options):
        probed.append(variant.id)
        return {"capacity_rps": 400.0, "slo_s": 1.0, "steps": [], "bracket": [400.0, 420.0], "note": ""}

    def measure(variant, run_id, repeat, seed, run_dir, options):
        rates[variant.id] = variant.load.target_rps
        if len(rates) == 3 and repeat == 1 and "stop" not in rates:
            rates["stop"] = 0.0
            raise KeyboardInterrupt
        return VariantResult.model_validate({"run_id": run_id, "variant_id": variant.id, "repeat": repeat,
                                             "status": "ok", "variant": variant.spec_dict(), "metadata": {}})

    with pytest.raises(KeyboardInterrupt):
        run_scenario(path, root=root, console=quiet, measure=measure, probe=probe, prepare=_no_build)
    (run_dir,) = root.iterdir()
    assert probed == ["baseline.mixed.c25"]  # one probe of the baseline, before any repeat
    assert store.read_manifest(run_dir).calibration["mixed"]["capacity_rps"] == 400.0
    out = run_scenario(path, resume=run_dir.name, root=root, console=quiet, measure=measure, probe=probe, prepare=_no_build)
    assert probed == ["baseline.mixed.c25"]  # resume reuses the stored calibration
    assert {rates[v] for v in rates if v.endswith(".c25")} == {100.0}
    assert {rates[v] for v in rates if v.endswith(".c50")} == {200.0}
    assert all(r.variant.load.target_rps in (100.0, 200.0) for r in out.results)


def test_scenario_gates_are_checked_after_the_run(tmp_path):
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump({**SCENARIO, "repeats": 1, "gates": ["drops>0"]}))
    quiet = Console(file=open("/dev/null", "w"))

    def measure(variant, run_id, repeat, seed, run_dir, options):
        drops = 0 if variant.is_baseline or variant.policy == "metadata-all" else 7
        return VariantResult.model_validate({
            "run_id": run_id, "variant_id": variant.id, "repeat": repeat, "status": "ok",
            "variant": variant.spec_dict(), "metadata": {},
            "audit": {"metrics": {"event_total": 10, "error_total": {"buffered": drops}}}})

    out = run_scenario(path, root=tmp_path / "results", console=quiet, measure=measure, prepare=_no_build)
    tripped = {g.subject.split(" -> ")[1] for g in out.gate_results if g.tripped}
    assert out.gates_failed and tripped == {"seed-production.log.mixed"}
