"""Usage errors through the real `auditbench` entry point: one line, exit 2, never a traceback.

Whichever click a fresh install brings (the `click` package or the copy newer typer
vendors), a mistake on the command line must read the same way.
"""

from __future__ import annotations

import pytest

from bench.cli import _click_error
from tests.cliutil import assert_one_line_error, run_cli

POLICY = "policies/seed-production.yaml"


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["measure", "--bakend", "kind"], ["No such option: --bakend", "auditbench measure --help"]),
        (["policy", "lint"], ["Missing argument", "auditbench policy lint --help"]),
        (["mesure"], ["No such command 'mesure'", "measure"]),
        (["policy", "explian", POLICY], ["No such command 'explian'"]),
        (["policy", "explain", POLICY, "--verb", "get", "--resource", "pods"], ["Missing option '--user'"]),
        (["logs", "scan", "--top", "zero", "x.log"], ["--top"]),
        (["logs", "scan", "--format", "yaml", "x.log"], ["--format", "yaml"]),
        (["run", "smoke", "--workers", "99"], ["--workers", "64"]),
        (["policy", "diff", POLICY], ["Missing argument"]),
        (["report", "a", "b"], ["unexpected extra argument"]),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) and v and v[0][0].isalpha() and "/" not in v[0] else None,
)
def test_usage_error_is_one_line_exit_2(args: list[str], fragments: list[str]) -> None:
    assert_one_line_error(run_cli(*args), 2, *fragments)


def test_bare_group_shows_help_without_an_error_line() -> None:
    proc = run_cli("policy")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "lint" in proc.stdout + proc.stderr and "error:" not in proc.stderr


def test_help_lists_every_area() -> None:
    proc = run_cli("--help")
    assert proc.returncode == 0, proc.stderr
    for name in ("controlplane", "up", "doctor", "webhook", "logs", "whatif", "policy", "compare",
                 "run", "measure", "traffic", "kind"):
        assert f" {name} " in proc.stdout, name


def test_a_lone_area_is_still_a_group() -> None:
    # Only the named area is registered at start; the command name must still be needed.
    proc = run_cli("policy", "explain", POLICY, "--user", "alice", "--verb", "get", "--resource", "pods")
    assert proc.returncode == 0, proc.stderr
    assert "level" in proc.stdout.lower()


def _usage_error_classes() -> list[type[BaseException]]:
    classes: list[type[BaseException]] = []
    try:
        import click

        classes.append(click.UsageError)
    except ImportError:
        pass
    try:
        from typer._click.exceptions import UsageError  # vendored since typer 0.20
        classes.append(UsageError)
    except ImportError:
        pass
    return classes


@pytest.mark.parametrize("cls", _usage_error_classes(), ids=lambda c: c.__module__)
def test_either_click_is_recognised(cls: type[BaseException]) -> None:
    assert _click_error(cls("No such option: --x")) == "No such option: --x"  # type: ignore[call-arg]


def test_other_exceptions_are_not_usage_errors() -> None:
    assert _click_error(ValueError("x")) is None
    assert _click_error(KeyError("x")) is None
