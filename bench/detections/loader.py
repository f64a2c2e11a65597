"""Read a detections file (or a shipped set by name) into compiled detections; bad input -> InputError."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bench.detections.model import Detection, DetectionsFile, compile_spec
from bench.errors import InputError
from bench.paths import project_root
from bench.scenario.validation import input_error


def detections_dir() -> Path:
    return project_root() / "detections"


def shipped() -> list[str]:
    return sorted(p.stem for p in detections_dir().glob("*.yaml"))


def find_detections(ref: str | Path) -> Path:
    """A path, or the name of a shipped set (``article`` -> detections/article.yaml)."""
    p = Path(ref)
    if p.exists():
        return p
    named = detections_dir() / f"{ref}.yaml"
    if "/" not in str(ref) and named.exists():
        return named
    raise InputError(str(ref), None, f"no such detections file (nor a shipped set: {', '.join(shipped())})")


def parse_detections(doc: Any, source: str = "<detections>") -> list[Detection]:
    if not isinstance(doc, dict):
        raise InputError(source, None, "a detections file is a YAML mapping with version: 1 and detections: [...]")
    try:
        spec = DetectionsFile.model_validate(doc)
    except ValidationError as exc:
        raise input_error(exc, source) from None
    return [compile_spec(d, source, i) for i, d in enumerate(spec.detections)]


def load_detections(ref: str | Path) -> list[Detection]:
    path = find_detections(ref)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InputError(path, None, f"not valid YAML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, None, f"cannot read: {exc}") from None
    return parse_detections(doc, str(path))
