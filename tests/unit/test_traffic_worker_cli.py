"""`auditbench traffic worker` argument checks (the worker itself runs in
tests/integration/test_traffic_remote_workers.py)."""

from __future__ import annotations

import pytest

from bench.errors import InputError
from bench.traffic.worker import check_server, parse_master, worker_env


@pytest.mark.parametrize(("text", "want"), [
    ("10.0.0.5:6000", ("10.0.0.5", 6000)), ("master.example", ("master.example", 5557)),
    ("[::1]:7000", ("::1", 7000)), ("[fd00::1]", ("fd00::1", 5557)), ("::1", ("::1", 5557)),
])
def test_parse_master(text: str, want: tuple[str, int]) -> None:
    assert parse_master(text) == want


@pytest.mark.parametrize("text", [":5557", "host:port", "host:0", "host:70000"])
def test_parse_master_rejects(text: str) -> None:
    with pytest.raises(InputError):
        parse_master(text)


def test_worker_refuses_a_non_loopback_server() -> None:
    check_server(None)
    check_server("https://127.0.0.1:6443")
    with pytest.raises(InputError, match="loopback"):
        check_server("https://10.1.2.3:6443")


def test_worker_env_points_locust_at_the_master_not_at_a_config_file(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("AB_TRAFFIC_CONFIG", "/elsewhere/config.json")
    env = worker_env("10.0.0.5", 6000, "k", tmp_path / "run", None, 30.0)
    assert "AB_TRAFFIC_CONFIG" not in env and "AB_SERVER" not in env
    assert (env["AB_MASTER_HOST"], env["AB_MASTER_PORT"], env["AB_JOIN_KEY"]) == ("10.0.0.5", "6000", "k")
    assert worker_env("h", 1, "k", tmp_path, "https://127.0.0.1:1", 1.0)["AB_SERVER"] == "https://127.0.0.1:1"
