"""SIGTERM and SIGHUP take the same clean path as Ctrl-C.

Python's default for SIGTERM is to die on the spot: no `finally`, no atexit, so a `go build`
or a control plane in its own process group would be left running. Raised as a
KeyboardInterrupt instead, every `except KeyboardInterrupt` and `finally` in the harness
(children stopped, build killed, run marked interrupted) runs for them too.
"""

from __future__ import annotations

import signal
from types import FrameType


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, delivered to the main thread as an interrupt."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_received: list[int] = []


def _raise(signum: int, frame: FrameType | None) -> None:  # noqa: ARG001
    _received.append(signum)
    raise Terminated(signum)


def terminated_exit_code() -> int | None:
    """128 + the signal, if SIGTERM or SIGHUP ended this process's work; else None. (typer
    turns every KeyboardInterrupt into exit code 130, so the signal is remembered here.)"""
    return 128 + _received[0] if _received else None


def term_as_interrupt() -> None:
    """Install the handlers (main thread only, as the signal module requires)."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise)
