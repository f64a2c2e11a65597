"""scripts/policy-pr.sh (the GitHub Action's measuring step): the paths that end before any
cluster starts. The measuring path runs in tests/integration/test_policy_pr_script_live.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bench.controlplane import build
from bench.paths import project_root

SCRIPT = project_root() / "scripts" / "policy-pr.sh"
POLICIES = project_root() / "policies"
ACTION = project_root() / "action.yml"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, str]:
    """A policy repository with policies/prod.yaml committed as the base."""
    root = tmp_path / "repo"
    (root / "policies").mkdir(parents=True)
    git(root, "init", "-q")
    git(root, "config", "user.email", "t@example.invalid")
    git(root, "config", "user.name", "t")
    shutil.copy(POLICIES / "seed-production.yaml", root / "policies" / "prod.yaml")
    git(root, "add", ".")
    git(root, "commit", "-qm", "base")
    return root, git(root, "rev-parse", "HEAD")


def run(repo: Path, *args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "GITHUB_OUTPUT": str(tmp / "github-output")}
    env.pop("GITHUB_STEP_SUMMARY", None)
    return subprocess.run(["bash", str(SCRIPT), *args, "--summary", str(tmp / "summary.md"),
                           "--results", str(tmp / "results")], cwd=repo, env=env, capture_output=True, text=True,
                          timeout=120)


def test_an_unchanged_policy_is_not_measured(repo: tuple[Path, str], tmp_path: Path) -> None:
    root, base = repo
    done = run(root, "--policy", "policies/prod.yaml", "--base", base, tmp=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "unchanged" in (tmp_path / "summary.md").read_text()
    assert not list((tmp_path / "results").iterdir())


def test_paths_are_relative_to_the_working_directory(repo: tuple[Path, str], tmp_path: Path) -> None:
    root, base = repo
    done = run(root / "policies", "--policy", "prod.yaml", "--base", base, tmp=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "unchanged" in (tmp_path / "summary.md").read_text()


def test_a_deleted_policy_has_nothing_to_measure(repo: tuple[Path, str], tmp_path: Path) -> None:
    root, base = repo
    (root / "policies" / "prod.yaml").unlink()
    done = run(root, "--policy", "policies/prod.yaml", "--base", base, tmp=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "deleted" in (tmp_path / "summary.md").read_text()


def test_a_policy_in_neither_version_is_an_error(repo: tuple[Path, str], tmp_path: Path) -> None:
    root, base = repo
    done = run(root, "--policy", "policies/typo.yaml", "--base", base, tmp=tmp_path)
    assert done.returncode == 2
    assert "exists neither" in done.stderr


def test_an_unknown_base_revision_is_an_error(repo: tuple[Path, str], tmp_path: Path) -> None:
    root, _ = repo
    done = run(root, "--policy", "policies/prod.yaml", "--base", "0" * 40, tmp=tmp_path)
    assert done.returncode == 2
    assert "cannot fetch base revision" in done.stderr


@pytest.mark.parametrize("args", [(), ("--policy", "p.yaml"), ("--base", "HEAD"), ("--bogus", "1")])
def test_usage_errors(repo: tuple[Path, str], tmp_path: Path, args: tuple[str, ...]) -> None:
    root, _ = repo
    done = run(root, *args, tmp=tmp_path)
    assert done.returncode == 2
    assert "policy-pr.sh --policy PATH --base REF" in done.stderr


def run_action_step(step_id: str, cwd: Path, tmp: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run one of action.yml's bash steps as the runner would: its text, its env (values given
    here, as GitHub would evaluate the expressions), GITHUB_ACTION_PATH at this checkout."""
    (step,) = [s for s in yaml.safe_load(ACTION.read_text())["runs"]["steps"] if s.get("id") == step_id]
    assert step["shell"] == "bash"
    assert set(env) == set(step.get("env", {})), "give every env the step declares"
    full = {**os.environ, **env, "GITHUB_ACTION_PATH": str(project_root()), "GITHUB_OUTPUT": str(tmp / "github-output"),
            "GITHUB_STEP_SUMMARY": str(tmp / "step-summary.md"), "RUNNER_OS": "Linux", "RUNNER_ARCH": "X64",
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    # GitHub runs a bash step as `bash --noprofile --norc -eo pipefail {0}`
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], cwd=cwd, env=full,
                          capture_output=True, text=True, timeout=900)


def compare_env(policy: str, base: str, gates: str, results: Path, **over: str) -> dict[str, str]:
    env = {"AB_POLICY": policy, "AB_BASE": base, "AB_GATES": gates, "AB_PROFILE": "mixed", "AB_RATE": "50", "AB_USERS": "",
           "AB_DURATION": "4s", "AB_WARMUP": "1s", "AB_REPEATS": "1", "AB_WEBHOOK_WAIT": "", "AB_RESULTS": str(results)}
    env.update(over)
    return env


def test_the_cache_key_step_writes_key_and_path(tmp_path: Path) -> None:
    done = run_action_step("cp", tmp_path, tmp_path, {})
    assert done.returncode == 0, done.stderr
    out = dict(line.split("=", 1) for line in (tmp_path / "github-output").read_text().splitlines())
    assert out == {"key": f"auditbench-controlplane-Linux-X64-{build.cache_key()}", "path": str(build.cache_dir())}


def test_the_compare_step_runs_the_script(repo: tuple[Path, str], tmp_path: Path) -> None:
    root, base = repo
    env = compare_env("policies/prod.yaml", base, "p99_latency_ratio>1.25\n\n  \n", tmp_path / "results")
    done = run_action_step("compare", root, tmp_path, env)
    assert done.returncode == 0, done.stderr
    assert "unchanged against" in (tmp_path / "step-summary.md").read_text()


def test_the_compare_step_needs_a_base(repo: tuple[Path, str], tmp_path: Path) -> None:
    root, _ = repo
    done = run_action_step("compare", root, tmp_path, compare_env("policies/prod.yaml", "", "", tmp_path / "r"))
    assert done.returncode == 2 and "::error::no base-ref" in done.stdout
