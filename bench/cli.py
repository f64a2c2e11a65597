"""The `auditbench` command: a thin layer over the library.

Each area registers its own sub-commands here; the work lives in the library
modules so it can be tested without the CLI.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from bench.errors import EnvironmentProblem, InputError

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Measure what Kubernetes audit logging costs.",
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)


def _register() -> None:
    # Imported here so `auditbench --help` stays fast and a broken optional
    # area cannot hide the others' commands behind an ImportError at import time.
    from bench.controlplane import cli as controlplane_cli

    app.add_typer(controlplane_cli.build_app, name="controlplane")

    from bench import cluster_cli

    cluster_cli.register(app)

    from bench.webhook import cli as webhook_cli

    app.add_typer(webhook_cli.webhook_app, name="webhook")

    from bench.logs import cli as logs_cli

    app.add_typer(logs_cli.app, name="logs")
    app.command("whatif")(logs_cli.whatif)

    from bench.policy import cli as policy_cli

    app.add_typer(policy_cli.app, name="policy")

    from bench.report import cli as report_cli

    app.command("compare")(report_cli.compare)
    app.command("report")(report_cli.report)
    app.command("capacity")(report_cli.capacity)

    from bench import run_cli

    run_cli.register(app)

    from bench.traffic import cli as traffic_cli

    app.add_typer(traffic_cli.app, name="traffic")

    from bench.kind import cli as kind_cli

    app.add_typer(kind_cli.app, name="kind")

    from bench.harness import cli as harness_cli

    app.add_typer(harness_cli.app, name="harness")


def main() -> None:
    from bench.signals import term_as_interrupt, terminated_exit_code

    term_as_interrupt()  # SIGTERM runs the same cleanup as Ctrl-C (no orphaned go build or cluster)
    _register()
    try:
        # With standalone_mode=False click returns a command's exit code instead of exiting.
        rc = app(standalone_mode=False)
        if isinstance(rc, int) and rc:
            sys.exit(terminated_exit_code() or rc)  # 143 after SIGTERM, as a shell expects
    except InputError as exc:
        err.print(f"[red]error:[/red] {exc.line()}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except EnvironmentProblem as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(3)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(terminated_exit_code() or 130)
    except Exception as exc:  # click usage errors carry their own exit code
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(2 if isinstance(exc, click.UsageError) else exc.exit_code)
        raise


if __name__ == "__main__":
    main()
