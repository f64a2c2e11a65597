"""The one `--format` choice every command takes."""

from __future__ import annotations

from enum import Enum


class Format(str, Enum):
    """text and table are the same thing, output for people (the `logs` commands always
    called it table, the others text); json is for machines."""

    text = "text"
    table = "table"
    json = "json"


HELP = "text (or table) for people, json for machines."
