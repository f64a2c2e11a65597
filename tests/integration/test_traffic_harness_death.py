"""Locust never outlives the harness: SIGKILL the process that runs the traffic mid-run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.integration


def _locusts(marker: str) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline", "environ"]):
        try:
            env = p.info["environ"] or {}
            # the master has the config file; workers get their config over the channel
            if "locust" in " ".join(p.info["cmdline"] or []) and marker in (
                    env.get("AB_TRAFFIC_CONFIG", "") + env.get("AB_WORKER_DIR", "")):
                found.append(p)
        except (psutil.Error, TypeError):
            continue
    return found


def test_sigkill_of_harness_stops_locust(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        from pathlib import Path
        from bench.controlplane.audit import AuditSettings
        from bench.controlplane.local import LocalCluster
        from bench.paths import project_root
        from bench.traffic.launcher import ClusterInfo, run_traffic
        with LocalCluster(audit=AuditSettings(policy=project_root() / "policies/seed-production.yaml")) as c:
            run_traffic(ClusterInfo.from_local(c), "noisy", "closed", 4, None, 120.0, 0.0, 1,
                        Path({str(tmp_path)!r}) / "s.csv.gz", Path({str(tmp_path)!r}) / "c.txt", workers=2,
                        work_dir=Path({str(tmp_path)!r}) / "work")
    """)
    harness = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and len(_locusts(str(tmp_path))) < 3:
            assert harness.poll() is None, "harness exited early"
            time.sleep(0.5)
        running = _locusts(str(tmp_path))
        assert len(running) >= 3, "master and two workers should be running"
        time.sleep(2)
        os.kill(harness.pid, signal.SIGKILL)
        harness.wait()
        gone, alive = psutil.wait_procs(running, timeout=20)
        assert not alive, f"Locust processes survived the harness: {[p.pid for p in alive]}"
    finally:
        if harness.poll() is None:
            harness.kill()
