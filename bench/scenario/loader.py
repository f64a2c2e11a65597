"""Read a scenario YAML file into a validated Scenario (errors -> InputError, exit 2)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bench.errors import InputError
from bench.paths import project_root
from bench.scenario.model import Scenario
from bench.scenario.validation import input_error


def policies_dir() -> Path:
    return project_root() / "policies"


def scenarios_dir() -> Path:
    return project_root() / "scenarios"


def resolve_policy(entry: str, base: Path | None = None) -> Path:
    """A bare name means policies/<name>.yaml; anything else is a path under policies/
    (or absolute)."""
    base = base or policies_dir()
    p = Path(entry)
    if p.is_absolute():
        return p
    if p.suffix in (".yaml", ".yml") or "/" in entry:
        return base / p
    return base / f"{entry}.yaml"


def policy_name(entry: str) -> str:
    """The readable name used in variant ids: the file stem."""
    return Path(entry).stem if (Path(entry).suffix or "/" in entry) else entry


def find_scenario(ref: str | Path) -> Path:
    """A path, or a bare name of a shipped scenario (``smoke`` -> scenarios/smoke.yaml)."""
    p = Path(ref)
    if p.exists():
        return p
    shipped = scenarios_dir() / f"{ref}.yaml"
    if shipped.exists():
        return shipped
    raise InputError(str(ref), None, "no such scenario file (nor scenarios/<name>.yaml)")


def parse_scenario(doc: Any, where: str | Path | None = None) -> Scenario:
    if not isinstance(doc, dict):
        raise InputError(where, None, "a scenario must be a YAML mapping")
    try:
        return Scenario.model_validate(doc)
    except ValidationError as exc:
        raise input_error(exc, where) from None


def load_scenario(path: str | Path, check_policies: bool = True, policies: Path | None = None) -> Scenario:
    """Load and validate; with ``check_policies`` every policy file must exist."""
    path = find_scenario(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InputError(path, None, f"not valid YAML: {_yaml_problem(exc)}") from None
    except UnicodeDecodeError as exc:
        raise InputError(path, None, f"not UTF-8 text (byte {exc.start}: {exc.object[exc.start:exc.start + 1]!r})") from None
    except OSError as exc:
        raise InputError(path, None, f"cannot read: {exc.strerror}") from None
    traffic = doc.get("traffic") if isinstance(doc, dict) else None
    if isinstance(traffic, dict) and isinstance(traffic.get("profiles_file"), str):
        # relative to the scenario file, like its other paths
        traffic["profiles_file"] = str((path.parent / traffic["profiles_file"]).resolve())
    scenario = parse_scenario(doc, path)
    if check_policies:
        _check_policies(scenario, path, policies)
    return scenario


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's message on one line: where, then what."""
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1} column {mark.column + 1}: " if mark is not None else ""
    return where + " ".join(str(getattr(exc, "problem", None) or exc).split())


def _check_policies(scenario: Scenario, where: Path, base: Path | None) -> None:
    if scenario.backend == "external":
        return  # the cluster's own policy, as configured: no file here
    names: dict[str, str] = {}
    for i, entry in enumerate(scenario.policies):
        if not resolve_policy(entry, base).is_file():
            raise InputError(where, f"policies[{i}]", f"no policy file {resolve_policy(entry, base)}")
        name = policy_name(entry)
        if name in names:
            raise InputError(where, f"policies[{i}]", f"policy name {name!r} also used by {names[name]!r}")
        names[name] = entry


def dump_scenario(scenario: Scenario) -> str:
    """The resolved scenario as YAML (defaults filled in), for results/<run-id>/scenario.yaml."""
    doc = scenario.model_dump(mode="json")
    if doc.get("kind") is None:  # only kind scenarios have it; older runs' fingerprints stay the same
        doc.pop("kind", None)
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=None)


def scenario_sha256(scenario: Scenario, policies: Path | None = None) -> str:
    """Fingerprint of the resolved scenario plus every policy file's bytes, so results
    from different definitions are never pooled under one name."""
    h = hashlib.sha256(dump_scenario(scenario).encode())
    for entry in scenario.policies:
        p = resolve_policy(entry, policies)
        h.update(entry.encode() + b"\0")
        h.update(p.read_bytes() if p.is_file() else b"<missing>")
    return h.hexdigest()
