"""`auditbench policy ...`: lint, explain and diff audit policies (thin layer over the library)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from bench.errors import InputError
from bench.formats import HELP as FORMAT_HELP
from bench.formats import Format
from bench.policy.diff import diff
from bench.policy.explain import explain, render_text
from bench.policy.lint import lint
from bench.policy.loader import load_policy
from bench.policy.request import RequestAttributes

app = typer.Typer(no_args_is_help=True, help="Lint, explain and compare audit policies.")


def say(text: str) -> None:
    # Plain text, not rich: no markup read into policy content, and ~50 ms less start-up
    # for `policy explain` (issue 15). Only `diff` draws a table.
    typer.echo(text)



@app.command("lint")
def lint_cmd(
    files: list[Path] = typer.Argument(..., help="Policy files (audit.k8s.io/v1 Policy YAML)."),
    fmt: Format = typer.Option(Format.text, "--format", help=FORMAT_HELP),
) -> None:
    """Check policies: secrets at Request level, shadowed rules, noisy RequestResponse, ... Exit 1 on an error finding."""
    reports = []
    for path in files:
        findings = lint(load_policy(path), str(path))
        reports.append({"source": str(path), "findings": [f.to_dict() for f in findings]})
        if fmt is not Format.json:
            for f in findings:
                say(f.line())
    all_findings = [f for r in reports for f in r["findings"]]
    counts = {s: sum(1 for f in all_findings if f["severity"] == s) for s in ("error", "warning", "info")}
    if fmt is Format.json:
        say(json.dumps({"files": reports, "counts": counts}, indent=2))
    else:
        say(f"{len(files)} file(s): {counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} info")
    if counts["error"]:
        # SystemExit, not typer.Exit: bench.cli.main runs click with standalone_mode=False,
        # where typer.Exit(1) becomes a return value that main() drops.
        sys.exit(1)


@app.command("explain")
def explain_cmd(
    file: Path = typer.Argument(..., help="Policy file."),
    user: str = typer.Option(..., "--user", help="User name."),
    group: list[str] = typer.Option([], "--group", help="A group of the user (repeatable)."),
    verb: str = typer.Option(..., "--verb", help="get, list, watch, create, ...; for --path the lowercase HTTP method."),
    namespace: str = typer.Option("", "--namespace"),
    api_group: str = typer.Option("", "--api-group", help='API group ("" = core).'),
    resource: Optional[str] = typer.Option(None, "--resource", help="RESOURCE or RESOURCE/SUBRESOURCE."),
    name: str = typer.Option("", "--name"),
    path: Optional[str] = typer.Option(None, "--path", help="Non-resource URL path, e.g. /healthz."),
    authenticated_group: bool = typer.Option(
        True, "--authenticated-group/--no-authenticated-group",
        help="Add system:authenticated, as the apiserver does for every authenticated user."),
    fmt: Format = typer.Option(Format.text, "--format", help=FORMAT_HELP),
) -> None:
    """Show which rule a request matches, its level and the stages the apiserver writes."""
    if (resource is None) == (path is None):
        raise InputError(None, "--resource/--path", "give exactly one of --resource or --path")
    groups = tuple(group) + (("system:authenticated",) if authenticated_group and "system:authenticated" not in group else ())
    if path is not None:
        attrs = RequestAttributes(user, groups, verb, api_version="", path=path, is_resource_request=False)
    else:
        res, _, sub = (resource or "").partition("/")
        attrs = RequestAttributes(user, groups, verb, namespace, api_group, "v1", res, sub, name, "", True)
    result = explain(load_policy(file), attrs)
    say(json.dumps(result, indent=2) if fmt is Format.json else render_text(result))


@app.command("diff")
def diff_cmd(
    a: Path = typer.Argument(..., help="First policy."),
    b: Path = typer.Argument(..., help="Second policy."),
    fmt: Format = typer.Option(Format.text, "--format", help=FORMAT_HELP),
) -> None:
    """List request classes (from the built-in request corpus) whose level or stages differ."""
    rows = diff(load_policy(a), load_policy(b))
    if fmt is Format.json:
        say(json.dumps({"a": str(a), "b": str(b), "differences": [r.to_dict() for r in rows]}, indent=2))
        return
    if not rows:
        say("no differences over the request corpus")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{a} vs {b}: {len(rows)} request classes differ")
    for col in ("request class", "users", "A level", "A stages", "B level", "B stages"):
        table.add_column(col)
    for r in rows:
        table.add_row(r.request_class, str(len(r.users)), _lvl(r.level_a, r.rule_a), ",".join(r.stages_a) or "-",
                      _lvl(r.level_b, r.rule_b), ",".join(r.stages_b) or "-")
    Console(highlight=False, soft_wrap=True).print(table)


def _lvl(level: str, rule: int | None) -> str:
    return f"{level} (rules[{rule}])" if rule is not None else f"{level} (no rule)"


@app.command("suggest")
def suggest_cmd(
    captures: list[Path] = typer.Argument(..., help="Capture taken with a RequestResponse-for-everything policy (audit log files, webhook captures)."),
    policy: Path = typer.Option(..., "--policy", help="The base policy to make cheaper."),
    detections: str = typer.Option("article", "--detections", help="Detections file, or a shipped set by name (article, auditbench-traffic)."),
    rate: Optional[float] = typer.Option(None, "--rate", help="API requests/s: give savings in bytes per day at this rate."),
    min_saving: float = typer.Option(1.0, "--min-saving", min=0.0, help="Apply only edits that save at least this percent of the base policy's bytes."),
    out_file: Optional[Path] = typer.Option(None, "--out", help="Where to write the suggested policy (default: <base>.suggested.yaml in the current directory)."),
    fmt: Format = typer.Option(Format.text, "--format"),
) -> None:
    """Propose cheaper edits to a policy that keep every detection; write, lint and prove the result by replay."""
    from bench import atomic
    from bench.detections import find_detections, load_detections
    from bench.logs import coverage_render, reader, records, suggest

    if rate is not None and rate <= 0:
        raise InputError(None, "--rate", "must be a positive number of requests per second")
    base = load_policy(policy)
    dets = load_detections(detections)
    sources = reader.expand(captures)
    rec = records.build(reader.iter_events(sources), dets)
    if not rec.capture_events:
        raise InputError(", ".join(str(c) for c in captures), None, "the capture holds no audit events")
    result = suggest.search(rec, base, min_saving=min_saving / 100.0)
    proof = suggest.prove(reader.iter_events(sources), result, dets)
    target = out_file or Path(f"{policy.stem}.suggested.yaml")
    text = suggest.policy_yaml(result, ", ".join(str(c) for c in captures), str(find_detections(detections)))
    atomic.write_text(target, text)
    lint_lines = [f.line() for f in lint(load_policy(target), str(target))]
    doc = suggest.report_json(result, proof, str(target), lint_lines, rate)
    if fmt is Format.json:
        print(json.dumps(doc, indent=2))
    else:
        from rich.console import Console  # rich only where tables are drawn: policy's start stays fast

        coverage_render.print_suggestion(Console(highlight=False, soft_wrap=True), doc)
    if not (proof.keeps_every_detection and proof.matches_search):
        sys.exit(1)  # never hand over a policy the replay does not back
