"""Tools the tests cross-check against (jq, Chromium).

On a developer's machine a missing tool skips its cross-check, with the install hint. In
CI (CI or AUDITBENCH_CI set; GitHub Actions sets CI, .ci/run sets AUDITBENCH_CI) it fails
the test: a CI machine that lost jq must not pass by silently skipping the comparison
with jq.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


def in_ci() -> bool:
    return any(os.environ.get(var, "").strip().lower() not in ("", "0", "false", "no") for var in ("CI", "AUDITBENCH_CI"))


def require_tool(name: str, hint: str, path: str | Path | None = None) -> str:
    """The tool's path; skip without it locally, fail without it in CI."""
    found = str(path) if path is not None and Path(path).exists() else (shutil.which(name) if path is None else None)
    if found is None:
        reason = f"{name} is not installed ({hint})"
        if in_ci():
            pytest.fail(f"{reason}: CI must run this cross-check, not skip it", pytrace=False)
        pytest.skip(reason)
    return found
