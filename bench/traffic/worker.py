"""`auditbench traffic worker`: a Locust worker for a run whose master runs elsewhere.

Starts ``python -m locust -f bench/traffic/locustfile.py --worker`` (never imports locust
here) in its own process group. The worker asks the master for the run's config over Locust's
channel, presenting the run's join key; the CA and tokens it gets back live in a private temp
directory (0700, files 0600) that is removed when the worker ends. One worker serves one run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from types import FrameType
from urllib.parse import urlparse

from bench.controlplane.procs import exec_prefix
from bench.errors import InputError
from bench.traffic.launcher import LOCUSTFILE

DEFAULT_PORT = 5557  # Locust's
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


def parse_master(text: str) -> tuple[str, int]:
    """HOST[:PORT] or [IPV6][:PORT] -> (host, port)."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host, port_text = text, ""
    if not host:
        raise InputError(None, "--master", f"no host in {text!r} (expected HOST:PORT)")
    try:
        port = int(port_text) if port_text else DEFAULT_PORT
    except ValueError:
        raise InputError(None, "--master", f"bad port in {text!r}") from None
    if not 0 < port < 65536:
        raise InputError(None, "--master", f"port {port} out of range")
    return host, port


def check_server(server: str | None) -> None:
    # The same rule the locustfile enforces, said before anything starts.
    if server is not None and urlparse(server).hostname not in LOOPBACK_HOSTS:
        raise InputError(None, "--server", f"auditbench sends traffic to loopback only, not {server}"
                         " (reach a remote apiserver through a local tunnel)")


def worker_env(host: str, port: int, join_key: str, work_dir: Path, server: str | None,
               connect_timeout_s: float) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("AB_TRAFFIC_CONFIG", "AB_SERVER")}
    env.update({"AB_MASTER_HOST": host, "AB_MASTER_PORT": str(port), "AB_JOIN_KEY": join_key,
                "AB_WORKER_DIR": str(work_dir), "AB_CONNECT_TIMEOUT": str(connect_timeout_s),
                "PYTHONUNBUFFERED": "1"})
    if server:
        env["AB_SERVER"] = server
    return env


def _terminate(_sig: int, _frame: FrameType | None) -> None:
    raise SystemExit(143)  # unwinds through the finally blocks: the child stops, the secrets go


def run_worker(master: str, join_key: str, server: str | None = None, connect_timeout_s: float = 120.0) -> int:
    """Run one worker until its master ends the run; returns Locust's exit code."""
    host, port = parse_master(master)
    check_server(server)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        with tempfile.TemporaryDirectory(prefix="auditbench-worker-") as tmp:
            argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--worker", "--master-host", host,
                    "--master-port", str(port), "--loglevel", "WARNING"]
            env = worker_env(host, port, join_key, Path(tmp) / "run", server, connect_timeout_s)
            # No preexec_fn (unsafe with threads): setpriv sets the parent-death signal before exec.
            proc = subprocess.Popen(exec_prefix() + argv, env=env, stdin=subprocess.DEVNULL, start_new_session=True)
            try:
                return proc.wait()
            finally:
                _stop(proc)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
