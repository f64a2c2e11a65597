"""Fixtures shared by the unit tests."""

from __future__ import annotations

import pytest

from tests.crosscheck import require_tool


@pytest.fixture
def jq() -> str:
    """The jq binary that detections and log queries are cross-checked against."""
    return require_tool("jq", "apt-get install -y jq")
