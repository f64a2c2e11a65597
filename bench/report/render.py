"""jinja2 environment for the report templates."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import jinja2

from bench.report import fmt

TEMPLATES = Path(__file__).parent / "templates"


def _yesno(v: bool | None) -> str:
    return "–" if v is None else ("yes" if v else "**no**")


def _headroom(v: float | None) -> str:
    return "–" if v is None else ("∞" if math.isinf(v) else f"{v:.2g}×")


def _seconds(v: float | None) -> str:
    if v is None:
        return "–"
    return "never" if math.isinf(v) else f"{v:.3g} s"


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=lambda name: name is not None and ".html" in name,
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
        keep_trailing_newline=True,
    )
    env.filters.update(fmt.FILTERS)
    env.globals.update(yesno=_yesno, headroom=_headroom, seconds=_seconds, **fmt.GLOBALS)
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)
