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


def test_a_worker_without_a_master_gives_up_cleanly(tmp_path) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    from bench.controlplane.ports import free_ports

    (port,) = free_ports(1)
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    done = subprocess.run([str(Path(sys.executable).with_name("auditbench")), "traffic", "worker", "--master",
                           f"127.0.0.1:{port}", "--join-key", "k", "--connect-timeout", "2s"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 1
    assert f"no answer from the Locust master at 127.0.0.1:{port} within 2s" in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert list(tmp_path.iterdir()) == []  # its private directory is gone
