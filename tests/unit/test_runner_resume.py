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
