"""The README's claims and capacity tables are `auditbench claims` output, not typed by hand.

Each block between ``<!-- auditbench claims RUN_DIR [--rate R] -->`` and ``<!-- end claims -->``
must equal what the command prints for that committed example run today; after a rerun,
paste the command's output again.
"""

from __future__ import annotations

import re
import shlex

import pytest

from bench.paths import project_root
from bench.report.summary import summary

_BLOCK = re.compile(r"<!-- auditbench claims (?P<args>[^>]*?) -->\n(?P<body>.*?)<!-- end claims -->", re.S)


def _blocks() -> list[tuple[str, str]]:
    text = (project_root() / "README.md").read_text(encoding="utf-8")
    return [(m.group("args"), m.group("body")) for m in _BLOCK.finditer(text)]


def test_the_readme_has_generated_claims() -> None:
    assert _blocks(), "README.md lost its generated claims block"


@pytest.mark.parametrize(("args", "body"), _blocks(), ids=lambda v: v[:40] if isinstance(v, str) else "")
def test_a_readme_claims_block_is_what_the_command_prints(args: str, body: str) -> None:
    words = shlex.split(args)
    run, rate = words[0], None
    if "--rate" in words:
        rate = float(words[words.index("--rate") + 1])
    assert (project_root() / run).is_dir(), f"{run}: the example run is not committed"
    expected = summary(project_root() / run, rate)
    assert body == expected, f"README block for `auditbench claims {args}` is stale: paste the command's output again"
