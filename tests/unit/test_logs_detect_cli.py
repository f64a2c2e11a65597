"""`logs detect` starts without typer when its command line is plain, and then does exactly
what the typer command does; anything else goes to the typer command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from bench.formats import Format
from bench.logs import cli, detect_cli
from tests.cliutil import run_main

FIXTURE = Path(__file__).parent.parent / "fixtures" / "logs" / "detect-cases.log"
F = str(FIXTURE)


@pytest.mark.parametrize(
    ("args", "files", "namespace", "fmt"),
    [
        ([F], [F], "production", Format.table),
        (["--format", "json", F], [F], "production", Format.json),
        ([F, "--format=json"], [F], "production", Format.json),
        (["--format", "text", F, F], [F, F], "production", Format.text),
        (["--production-namespace", "staging", F], [F], "staging", Format.table),
        (["--production-namespace=a", "--production-namespace=b", F], [F], "b", Format.table),  # click: last wins
        (["--", "--format"], ["--format"], "production", Format.table),
    ],
)
def test_plain_command_lines_are_taken(args: list[str], files: list[str], namespace: str, fmt: Format) -> None:
    parsed = detect_cli.parse(args)
    assert parsed is not None
    assert (parsed.files, parsed.production_namespace, parsed.fmt) == ([Path(f) for f in files], namespace, fmt)


@pytest.mark.parametrize(
    "args",
    [[], ["--help"], ["-h", F], [F, "--detections", "article"], ["--format", F], ["--format", "xml", F],
     ["--format"], [F, "--production-namespace"], ["--production-namespace", "-x", F], ["--top", "3", F], [""], ["-"]],
)
def test_anything_else_goes_to_typer(args: list[str]) -> None:
    assert detect_cli.parse(args) is None


def test_the_options_taken_are_the_typer_commands() -> None:
    # An option added to the typer command and not here is declined here (typer runs it):
    # this keeps the fast start from silently covering fewer command lines.
    command = get_command(cli.app).commands["detect"]  # type: ignore[attr-defined]
    names = {opt for p in command.params for opt in p.opts if opt.startswith("--")}
    assert names - {"--detections", "--help"} == set(detect_cli.OPTIONS)


@pytest.mark.parametrize(
    "args",
    [[F], ["--format", "json", F], ["--production-namespace", "staging", F], [F, FIXTURE.parent / "capture.webhook.jsonl"]],
    ids=["table", "json", "namespace", "two-files"],
)
def test_fast_start_prints_what_the_typer_command_prints(args: list, capsys: pytest.CaptureFixture[str]) -> None:
    args = [str(a) for a in args]
    assert detect_cli.run(args) == 0
    fast = capsys.readouterr().out
    typed = CliRunner().invoke(cli.app, ["detect", *args])
    assert typed.exit_code == 0, typed.output
    assert fast == typed.output
    assert "Secrets read by users" in fast


def test_a_declined_command_line_still_runs(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_main(["logs", "detect", "--detections", "article", "--format", "json", F], capsys)
    assert out.returncode == 0, out.stderr
    assert [d["count"] for d in json.loads(out.stdout)["detections"]] == [6, 1, 2]


def test_bad_file_is_one_line_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "audit.log"
    bad.write_text('{"objectRef":{"resource":"secrets"},"verb":"get","user":{"username":"a"}\n')  # cut short
    out = run_main(["logs", "detect", str(bad)], capsys)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and str(bad) in out.stderr, out.stderr


_HEAVY = ("typer", "click", "pydantic", "pandas", "numpy", "scipy", "matplotlib", "yaml")


@pytest.mark.parametrize(("fmt", "absent"), [("json", (*_HEAVY, "rich")), ("table", _HEAVY)])
def test_detect_starts_without_heavy_libraries(fmt: str, absent: tuple[str, ...]) -> None:
    probe = (
        "import sys\n"
        "from bench.cli import main\n"
        f"try:\n    main(['logs', 'detect', '--format', {fmt!r}, {F!r}])\n"
        "except SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "print(sorted({m.split('.')[0] for m in sys.modules}), file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    loaded = set(eval(proc.stderr.strip().splitlines()[-1]))  # noqa: S307 - our own printed list
    assert not loaded & set(absent), loaded & set(absent)
