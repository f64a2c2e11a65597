"""scripts/policy-pr.sh (the GitHub Action's measuring step): the paths that end before any
cluster starts. The measuring path runs in tests/integration/test_policy_pr_script_live.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.paths import project_root

SCRIPT = project_root() / "scripts" / "policy-pr.sh"
POLICIES = project_root() / "policies"


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
