"""`auditbench logs detect` with the built-in detections, started without typer.

This is the command a user times against jq, and on a 300 MB log its start-up was half
its run: typer brings pydantic and click (~0.1 s of CPU), rich ~0.05 s more. So bench.cli
offers `logs detect` here first. This parser takes only command lines whose meaning is
certain (files, --production-namespace, --format) and declines everything else (help,
--detections, an unknown or malformed option, no file): those go to the typer command in
bench.logs.cli, which defines the command and words its errors. Both run
``detect_command``; a test checks they print the same for the same command line.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.formats import Format

# The options taken here, with the typer command's names (a test compares the two).
OPTIONS = ("--production-namespace", "--format")


@dataclass
class DetectArgs:
    files: list[Path] = field(default_factory=list)
    production_namespace: str = "production"
    fmt: Format = Format.table


def parse(args: Sequence[str]) -> DetectArgs | None:
    """The arguments after `logs detect`, or None when the typer command must handle them."""
    out = DetectArgs()
    rest = list(args)
    only_files = False
    while rest:
        arg = rest.pop(0)
        if only_files or not arg.startswith("-"):
            if not arg:
                return None
            out.files.append(Path(arg))
            continue
        if arg == "--":
            only_files = True
            continue
        name, eq, value = arg.partition("=")
        if name not in OPTIONS:
            return None  # help, --detections, a typo: typer's job
        if not eq:
            if not rest or rest[0].startswith("-"):
                return None  # a missing value (or one click might read differently)
            value = rest.pop(0)
        if name == "--format":
            try:
                out.fmt = Format(value)
            except ValueError:
                return None
        else:
            out.production_namespace = value
    return out if out.files else None


def run(args: Sequence[str]) -> int | None:
    """Run `logs detect ARGS`; None when the typer command must take the command line."""
    parsed = parse(args)
    if parsed is None:
        return None
    detect_command(parsed.files, parsed.production_namespace, parsed.fmt)
    return 0


def detect_command(files: list[Path], production_namespace: str, fmt: Format) -> None:
    """The built-in detections over ``files``, printed for people or as JSON."""
    from bench.logs import detect, reader

    findings = detect.detect(reader.expand(files), production_namespace)
    if fmt is Format.json:
        # Plain print: rich would wrap long lines and break the JSON for machines.
        print(json.dumps({"detections": [
            {"name": f.detection.name, "title": f.detection.title, "jq": f"select({f.detection.jq})",
             "count": len(f.lines), "events": f.events}
            for f in findings
        ]}, indent=2, default=str))
        return
    from rich.console import Console

    from bench.logs import render

    render.print_findings(Console(), findings)
