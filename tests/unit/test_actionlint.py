"""Every workflow passes actionlint v1.7.12 (built once from its Go module by scripts/actionlint.sh
into the auditbench cache), including the one that runs this repository's own action (`uses: ./`),
whose inputs actionlint checks against action.yml."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bench.paths import project_root

ROOT = project_root()
SCRIPT = ROOT / "scripts" / "actionlint.sh"


@pytest.fixture(scope="module")
def actionlint() -> Path:
    if shutil.which("go") is None and not list(Path.home().glob(".cache/auditbench/tools/actionlint-*/actionlint")):
        pytest.fail("Go is needed once to build actionlint (scripts/actionlint.sh)")
    done = subprocess.run(["bash", str(SCRIPT), "--path-only"], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    path = Path(done.stdout.strip())
    assert "actionlint-v1.7.12" in str(path)
    version = subprocess.run([str(path), "-version"], capture_output=True, text=True)
    assert version.stdout.startswith("v1.7.12"), version.stdout
    return path


def test_repository_workflows_pass(actionlint: Path) -> None:
    workflows = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    assert {p.name for p in workflows} >= {"kind-audit.yml", "policy-pr.yml"}
    done = subprocess.run([str(actionlint), "-no-color", *map(str, workflows)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def _project(tmp_path: Path, workflow: str) -> Path:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    shutil.copy(ROOT / "action.yml", tmp_path / "action.yml")
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / ".github" / "workflows" / "use.yml").write_text(workflow)
    return tmp_path


_USE = """name: use
on: pull_request
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: ./
        id: ab
        with:
{with_}
      - run: echo "${{{{ steps.ab.outputs.{output} }}}}"
"""


def test_a_policy_repository_workflow_using_the_action_passes(actionlint: Path, tmp_path: Path) -> None:
    project = _project(tmp_path, _USE.format(with_="          policy: policies/prod.yaml\n"
                                             "          fail-on: p99_latency_ratio>1.2\n          repeats: \"3\"", output="tripped"))
    done = subprocess.run([str(actionlint), "-no-color"], cwd=project, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_reads_action_yml(actionlint: Path, tmp_path: Path) -> None:
    """The check above is live: a misspelt input, a missing required one and an unknown output are reported."""
    project = _project(tmp_path, _USE.format(with_="          polcy: policies/prod.yaml", output="trippd"))
    done = subprocess.run([str(actionlint), "-no-color"], cwd=project, capture_output=True, text=True)
    assert done.returncode == 1
    assert 'input "polcy" is not defined' in done.stdout
    assert 'missing input "policy"' in done.stdout
    assert '"trippd"' in done.stdout  # outputs too are checked against action.yml
