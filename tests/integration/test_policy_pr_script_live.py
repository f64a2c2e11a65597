"""scripts/policy-pr.sh end to end on the real local backend with a short window: first through
action.yml's own compare step (its shell text and env, multi-line gates), base vs PR policy with
a gate that trips and one that does not; then the script by hand for a policy new in the PR,
against the no-audit baseline."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.unit.test_policy_pr_script import POLICIES, compare_env, git, run, run_action_step

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

SHORT = ("--duration", "4s", "--warmup", "1s", "--repeats", "1", "--rate", "50")


def _outputs(tmp: Path) -> dict[str, str]:
    lines = (tmp / "github-output").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines)


def _variants(run_dir: Path) -> dict[str, str]:
    docs = [json.loads(p.read_text()) for p in (run_dir / "variants").glob("*.json")]
    return {d["variant_id"]: d["status"] for d in docs}


def test_policy_pr_script_measures_compares_and_gates(binaries: object, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "policies").mkdir(parents=True)
    git(root, "init", "-q")
    git(root, "config", "user.email", "t@example.invalid")
    git(root, "config", "user.name", "t")
    shutil.copy(POLICIES / "seed-production.yaml", root / "policies" / "prod.yaml")
    git(root, "add", ".")
    git(root, "commit", "-qm", "base")
    base = git(root, "rev-parse", "HEAD")
    shutil.copy(POLICIES / "metadata-all.yaml", root / "policies" / "prod.yaml")  # the pull request's change

    first = tmp_path / "first"
    first.mkdir()
    gates = "p99_latency_ratio>1000\n\n  drops>-1\n"  # as a YAML block scalar arrives
    env = compare_env("policies/prod.yaml", base, gates, first / "results")
    done = run_action_step("compare", root, first, env)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]  # the count gate trips
    out = _outputs(first)
    assert out["tripped"] == "true"
    run_dir = Path(out["run_dir"])
    assert _variants(run_dir) == {"base.log.mixed": "ok", "pr.log.mixed": "ok", "baseline.mixed": "ok"}
    assert (run_dir / "report.md").is_file() and (run_dir / "policy-pr-scenario.yaml").is_file()
    summary = (first / "step-summary.md").read_text()
    assert f"Base (`{base[:12]}`) vs this change" in summary
    assert f"{run_dir.name}:base.log.mixed" in summary and f"{run_dir.name}:pr.log.mixed" in summary
    # One repeat decides no ratio gate: it fails the build as inconclusive, it never passes.
    assert "| `p99_latency_ratio>1000` |" in summary and "⚠️ inconclusive" in summary
    assert "| `drops>-1` |" in summary and "❌ tripped" in summary

    # A policy the base branch does not have: measured against the no-audit baseline.
    shutil.copy(POLICIES / "minimal-security.yaml", root / "policies" / "new.yaml")
    second = tmp_path / "second"
    second.mkdir()
    done = run(root, "--policy", "policies/new.yaml", "--base", base, *SHORT, "--gate", "canary_leaks>0",
               tmp=second)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = _outputs(second)
    assert out["tripped"] == "false"
    assert _variants(Path(out["run_dir"])) == {"pr.log.mixed": "ok", "baseline.mixed": "ok"}
    summary = (second / "summary.md").read_text()
    assert "New policy: compared against the no-audit baseline" in summary
    assert "baseline.mixed" in summary and "0 of 1 gate checks failed" in summary
