"""The `auditbench` command: a thin layer over the library.

Each area registers its own sub-commands here; the work lives in the library
modules so it can be tested without the CLI.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from bench.errors import EnvironmentProblem, InputError

if TYPE_CHECKING:
    # Imported where used: `logs detect` starts without typer (and pydantic) when it can.
    import typer


def _root() -> None:
    """Measure what Kubernetes audit logging costs."""


def _controlplane(app: typer.Typer) -> None:
    from bench.controlplane import cli

    app.add_typer(cli.build_app, name="controlplane")


def _cluster(app: typer.Typer) -> None:
    from bench import cluster_cli

    cluster_cli.register(app)


def _webhook(app: typer.Typer) -> None:
    from bench.webhook import cli

    app.add_typer(cli.webhook_app, name="webhook")


def _logs(app: typer.Typer) -> None:
    from bench.logs import cli

    app.add_typer(cli.app, name="logs")
    app.command("whatif")(cli.whatif)


def _policy(app: typer.Typer) -> None:
    from bench.policy import cli

    app.add_typer(cli.app, name="policy")


def _report(app: typer.Typer) -> None:
    from bench.report import cli

    app.command("compare")(cli.compare)
    app.command("report")(cli.report)
    app.command("capacity")(cli.capacity)
    app.command("plan")(cli.plan)
    app.command("claims")(cli.claims)
    app.command("example")(cli.example)


def _run(app: typer.Typer) -> None:
    from bench import run_cli

    run_cli.register(app)


def _traffic(app: typer.Typer) -> None:
    from bench.traffic import cli

    app.add_typer(cli.app, name="traffic")


def _harness(app: typer.Typer) -> None:
    from bench.harness import cli

    app.add_typer(cli.app, name="harness")


def _kind(app: typer.Typer) -> None:
    from bench.kind import cli

    app.add_typer(cli.app, name="kind")


def _external(app: typer.Typer) -> None:
    from bench.backends import cli

    app.add_typer(cli.app, name="external")


# Every top-level name and the area that registers it, in `--help` order.
_AREAS: dict[str, Callable[[typer.Typer], None]] = {
    "controlplane": _controlplane,
    "up": _cluster, "demo": _cluster, "cleanup": _cluster, "doctor": _cluster,
    "webhook": _webhook,
    "logs": _logs, "whatif": _logs,
    "policy": _policy,
    "compare": _report, "report": _report, "capacity": _report, "plan": _report, "claims": _report, "example": _report,
    "run": _run, "measure": _run,
    "traffic": _traffic,
    "harness": _harness,
    "kind": _kind,
    "external": _external,
}


def build_app(args: Sequence[str]) -> typer.Typer:
    """The command tree for ``args``: the area the command line names, or every area.

    Only the named area is imported, so a start pays for its own libraries alone
    (`policy explain` needs neither pandas nor the control plane). `--help`, no command
    and a mistyped one register everything, so help lists all commands and click can
    suggest the closest name.
    """
    import typer

    app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                      help="Measure what Kubernetes audit logging costs.")
    # A callback keeps `app` a group even when only one area is registered (typer runs
    # a lone command as the whole program otherwise).
    app.callback()(_root)
    area = _AREAS.get(args[0]) if args else None
    for register in [area] if area is not None else dict.fromkeys(_AREAS.values()):
        register(app)
    return app


def _click_error(exc: BaseException) -> str | None:
    """The one-line message of a click usage error, or None if ``exc`` is not one.

    Duck-typed on click's documented exception API (`format_message()` and an int
    `exit_code`) so it covers the `click` package and the copy typer >= 0.20 vendors
    alike, whichever one a fresh install brings.
    """
    fmt = getattr(exc, "format_message", None)
    if not callable(fmt) or not isinstance(getattr(exc, "exit_code", None), int):
        return None
    # typer >= 0.2x words a bad value through pydantic, whose "Value error, " prefix says nothing.
    line = " ".join(str(fmt()).split()).replace("Value error, ", "")
    if not line:
        return ""  # no_args_is_help: click has just printed the help, which says it all
    ctx = getattr(exc, "ctx", None)
    path = getattr(ctx, "command_path", None)
    return f"{line} (see `{path} --help`)" if path else line


def _fail(line: str, code: int) -> None:
    # Plain stderr writes: importing rich only to print one line costs ~50 ms of start-up.
    sys.stderr.write(f"error: {line}\n")
    sys.exit(code)


def _run_app(args: Sequence[str]) -> int:
    if list(args[:2]) == ["logs", "detect"]:
        # The command timed against jq: run without typer when its command line is plain.
        from bench.logs import detect_cli

        lean = detect_cli.run(args[2:])
        if lean is not None:
            return lean
    # With standalone_mode=False click returns a command's exit code instead of exiting,
    # and raises its usage errors for us to print.
    rc = build_app(args)(args=list(args), prog_name="auditbench", standalone_mode=False)
    return rc if isinstance(rc, int) else 0


class _NotRaised(Exception):
    """Stands for typer's exceptions when typer was never imported (so none was raised)."""


def _typer_exception(name: str) -> type[BaseException]:
    # An `except` clause evaluates its class only when an exception reaches it.
    module = sys.modules.get("typer")
    exc = getattr(module, name, None) if module is not None else None
    return exc if isinstance(exc, type) and issubclass(exc, BaseException) else _NotRaised


def main(argv: Sequence[str] | None = None) -> None:
    """The `auditbench` entry point; ends in SystemExit with the exit code."""
    from bench.signals import term_as_interrupt, terminated_exit_code

    term_as_interrupt()  # SIGTERM runs the same cleanup as Ctrl-C (no orphaned go build or cluster)
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        rc = _run_app(args)
    except InputError as exc:
        _fail(exc.line(), 2)
    except EnvironmentProblem as exc:
        _fail(str(exc), 3)
    except _typer_exception("Exit") as exc:
        sys.exit(exc.exit_code)  # type: ignore[attr-defined]
    except _typer_exception("Abort") as exc:
        # click turns an EOFError inside a command into Abort: that is a file ending
        # early (a truncated .gz), not the user interrupting.
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, EOFError):
            _fail(f"unexpected end of input: {cause}", 2)
        sys.exit(130)
    except EOFError as exc:  # the same, from a command run without click (logs detect)
        _fail(f"unexpected end of input: {exc}", 2)
    except KeyboardInterrupt:
        sys.exit(terminated_exit_code() or 130)
    except OSError as exc:
        if exc.filename is None:
            raise
        # A file the harness itself reads or writes (results, cache, run dir) that the
        # machine refuses: an environment problem, named in one line.
        _fail(f"{exc.filename}: {exc.strerror or exc}", 3)
    except Exception as exc:
        line = _click_error(exc)
        if line is None:
            raise
        # Every click error is about the command line or a file it names: bad input.
        if line:
            _fail(line, 2)
        sys.exit(2)
    sys.exit((terminated_exit_code() or rc) if rc else 0)  # 143 after SIGTERM, as a shell expects


if __name__ == "__main__":
    main()
