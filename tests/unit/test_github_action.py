"""action.yml's structure, checked here because actionlint checks workflows, not action metadata.

A composite action must have runs.using "composite" and a shell on every run step; every input it
reads must be declared (GitHub substitutes an undeclared one with an empty string, silently); inputs
reach shell text only through env (no template splicing into scripts); outputs must come from
steps that exist; and the script it runs must exist and accept every option the action passes.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench.paths import project_root

ROOT = project_root()
ACTION = ROOT / "action.yml"
SCRIPT = ROOT / "scripts" / "policy-pr.sh"
_EXPR = re.compile(r"\$\{\{(.*?)\}\}", re.S)


def _action() -> dict[str, Any]:
    doc = yaml.safe_load(ACTION.read_text())
    assert isinstance(doc, dict)
    return doc


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return []


def _referenced(pattern: str, node: Any) -> set[str]:
    names: set[str] = set()
    for text in _strings(node):
        for expr in _EXPR.findall(text):
            names.update(re.findall(pattern, expr))
    return names


def _steps() -> list[dict[str, Any]]:
    return _action()["runs"]["steps"]


def test_required_top_level_keys() -> None:
    doc = _action()
    for key in ("name", "description", "inputs", "outputs", "runs"):
        assert doc.get(key), f"action.yml lacks {key}"
    assert doc["runs"]["using"] == "composite"
    assert isinstance(doc["runs"]["steps"], list) and doc["runs"]["steps"]


def test_every_run_step_has_a_shell_and_every_step_one_kind() -> None:
    for i, step in enumerate(_steps()):
        assert ("run" in step) != ("uses" in step), f"step {i} must have exactly one of run/uses"
        if "run" in step:
            assert step.get("shell") in ("bash", "sh", "pwsh", "python"), f"run step {i} ({step.get('name')}) lacks shell"
        else:
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+", step["uses"]), f"step {i}: pin {step['uses']} to a major version"


def test_inputs_read_are_declared_and_declared_are_read() -> None:
    doc = _action()
    declared = set(doc["inputs"])
    used = _referenced(r"inputs\.([A-Za-z0-9_-]+)", doc["runs"]) | _referenced(r"inputs\.([A-Za-z0-9_-]+)", doc["outputs"])
    assert used - declared == set(), "inputs read but not declared"
    assert declared - used == set(), "inputs declared but never read"


def test_input_metadata() -> None:
    for name, spec in _action()["inputs"].items():
        assert spec.get("description"), f"input {name} has no description"
        if spec.get("required"):
            assert "default" not in spec, f"required input {name} should not have a default"
        else:
            assert "default" in spec, f"optional input {name} needs a default"


def test_outputs_come_from_existing_steps_declared_before_use() -> None:
    doc = _action()
    seen: list[str] = []
    for step in _steps():
        for ref in _referenced(r"steps\.([A-Za-z0-9_-]+)\.", step):
            assert ref in seen, f"step {step.get('name') or step.get('uses')} reads steps.{ref} before it exists"
        if "id" in step:
            seen.append(step["id"])
    for name, out in doc["outputs"].items():
        refs = _referenced(r"steps\.([A-Za-z0-9_-]+)\.outputs", out)
        assert refs and refs <= set(seen), f"output {name} reads no existing step"


def test_no_expression_is_spliced_into_shell_text() -> None:
    # ${{ }} inside `run:` is substituted before bash parses it: an input (or a policy path
    # from a pull request) could inject commands. Everything goes through env instead.
    for step in _steps():
        if "run" in step:
            assert "${{" not in step["run"], f"step {step.get('name')} splices an expression into its script"


def test_the_script_exists_and_accepts_every_option_the_action_passes() -> None:
    assert SCRIPT.is_file() and SCRIPT.stat().st_mode & stat.S_IXUSR, "scripts/policy-pr.sh must be executable"
    (compare,) = [s for s in _steps() if s.get("id") == "compare"]
    assert "$GITHUB_ACTION_PATH/scripts/policy-pr.sh" in compare["run"]
    passed = set(re.findall(r"(--[a-z][a-z-]+)", compare["run"]))
    accepted = set(re.findall(r"^\s+(--[a-z][a-z-]+)\)", SCRIPT.read_text(), re.M))
    assert passed and passed <= accepted, f"options the script does not parse: {passed - accepted}"
    env_used = set(re.findall(r"\$\{?(AB_[A-Z_]+)", compare["run"]))
    assert env_used == set(compare["env"]), "env set and env read differ"


def test_cache_is_keyed_by_the_cli_cache_key() -> None:
    (key_step,) = [s for s in _steps() if s.get("id") == "cp"]
    assert "auditbench controlplane cache-key" in key_step["run"]
    assert "auditbench controlplane cache-key --dir" in key_step["run"]
    (cache,) = [s for s in _steps() if s.get("uses", "").startswith("actions/cache@")]
    assert "steps.cp.outputs.key" in cache["with"]["key"] and "steps.cp.outputs.path" in cache["with"]["path"]
    (build,) = [s for s in _steps() if "controlplane build" in s.get("run", "")]
    assert build["if"] == "steps.cache.outputs.cache-hit != 'true'"


def test_results_are_uploaded_even_when_a_gate_fails() -> None:
    (upload,) = [s for s in _steps() if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert upload["if"] == "always()"
    (compare,) = [s for s in _steps() if s.get("id") == "compare"]
    assert compare["env"]["AB_RESULTS"] == upload["with"]["path"]


@pytest.mark.parametrize("workflow", sorted((ROOT / ".github" / "workflows").glob("*.yml")), ids=lambda p: p.name)
def test_workflows_that_use_the_action_pass_only_its_inputs(workflow: Path) -> None:
    declared = set(_action()["inputs"])
    required = {k for k, v in _action()["inputs"].items() if v.get("required")}
    doc = yaml.safe_load(workflow.read_text())
    for job in doc["jobs"].values():
        for step in job.get("steps", []):
            if step.get("uses") == "./":
                given = set(step.get("with", {}))
                assert given <= declared and required <= given
