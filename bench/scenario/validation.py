"""Turn pydantic validation errors into one InputError naming file and field path."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from bench.errors import InputError


def field_path(loc: Sequence[str | int]) -> str:
    """('audit', 'webhook', 'batch_max_wait', 2) -> 'audit.webhook.batch_max_wait[2]'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _clean(msg: str) -> str:
    # pydantic prefixes custom errors with "Value error, "; the user does not need it.
    return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def input_error(exc: ValidationError, where: str | Path | None) -> InputError:
    """All errors at once: one is shown as field + reason, several are joined."""
    errs = exc.errors(include_url=False)
    # Drop the union/tag noise pydantic adds for the scalar-or-list helpers.
    items = [(field_path(_strip_internal(e["loc"])), _clean(e["msg"])) for e in errs]
    if len(items) == 1:
        path, msg = items[0]
        return InputError(where, path or None, msg)
    joined = "; ".join(f"{p}: {m}" if p else m for p, m in items)
    return InputError(where, None, f"{len(items)} errors: {joined}")


def _strip_internal(loc: Sequence[str | int]) -> list[str | int]:
    # Union members show up in loc as e.g. 'list[int]' or 'function-after[...]'.
    return [p for p in loc if not (isinstance(p, str) and ("[" in p or p.startswith("function-")))]
