"""Errors the CLI turns into one clear line and an exit code.

Bad input (a policy, scenario, flag or log file) is the user's to fix, so it
gets exit code 2 and a message naming the file and the field, never a traceback.
"""

from __future__ import annotations

from pathlib import Path


class InputError(Exception):
    """Bad user input. ``where`` names the file, ``field`` the dotted field path."""

    def __init__(self, where: str | Path | None, field: str | None, reason: str) -> None:
        self.where = str(where) if where is not None else None
        self.field = field
        self.reason = reason
        super().__init__(self.line())

    def line(self) -> str:
        parts = [p for p in (self.where, self.field) if p]
        prefix = ": ".join(parts)
        return f"{prefix}: {self.reason}" if prefix else self.reason


class EnvironmentProblem(Exception):
    """Something missing on the machine (binaries, tools); exit code 3 with a hint."""

    def __init__(self, reason: str, hint: str | None = None) -> None:
        self.reason = reason
        self.hint = hint
        super().__init__(reason if hint is None else f"{reason} ({hint})")
