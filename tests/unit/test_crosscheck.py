"""A cross-check tool missing in CI fails the test; on a developer's machine it skips."""

from __future__ import annotations

import pytest

from tests.crosscheck import in_ci, require_tool


@pytest.mark.parametrize(("env", "ci"), [({}, False), ({"CI": "true"}, True), ({"AUDITBENCH_CI": "1"}, True),
                                         ({"CI": "false"}, False), ({"CI": "0", "AUDITBENCH_CI": ""}, False)])
def test_ci_is_detected(env: dict[str, str], ci: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("CI", "AUDITBENCH_CI"):
        monkeypatch.delenv(var, raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    assert in_ci() is ci


def test_missing_tool_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDITBENCH_CI", "1")
    with pytest.raises(pytest.fail.Exception, match="CI must run this cross-check"):
        require_tool("auditbench-no-such-tool", "apt-get install it")


def test_missing_tool_skips_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("CI", "AUDITBENCH_CI"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install it"):
        require_tool("auditbench-no-such-tool", "apt-get install it")


def test_present_tool_is_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    assert require_tool("sh", "always there").endswith("/sh")
    assert require_tool("sh", "always there", "/bin/sh") == "/bin/sh"
