"""A Locust master and workers started as `auditbench traffic worker` processes on loopback,
against a real local cluster: samples and canaries reach the master only over Locust's channel.

"Merged results equal to single-process ones" is defined for what live timing allows: with the
same bounded request count, the merged set has exactly that many rows; it holds every row each
worker recorded exactly once (each worker's own tally, printed by the worker process, matches
the merged file in count, counts per class and an order-independent digest of the rows); and the
percentiles reported for the run are those the single-process code path computes from the same
samples.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import pytest

from bench.controlplane.ports import free_ports
from bench.paths import project_root
from bench.traffic.canary import find_canaries, read_canaries
from bench.traffic.catalog import long_running_classes
from bench.traffic.launcher import ClusterInfo, RemoteWorkers, TrafficResult, run_traffic
from bench.traffic.recorder import Tally, format_row
from bench.traffic.samples import read_samples, summarize

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]

POLICY = project_root() / "policies" / "seed-production.yaml"
KEY = "remote-workers-test-key"
AUDITBENCH = Path(sys.executable).with_name("auditbench")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    from bench.controlplane.audit import AuditSettings
    from bench.controlplane.local import LocalCluster

    with LocalCluster(audit=AuditSettings(policy=POLICY)) as c:
        yield c


class Workers:
    """`auditbench traffic worker` processes, each with its own TMPDIR and output file."""

    def __init__(self, tmp: Path, port: int, n: int, key: str = KEY, first: int = 0) -> None:
        self.tmp, self.procs, self.outputs = tmp, [], []
        for i in range(first, first + n):
            tmpdir = tmp / f"worker-tmp-{i}"
            tmpdir.mkdir()
            out = open(tmp / f"worker-{i}.out", "wb")
            self.outputs.append(tmp / f"worker-{i}.out")
            env = {**os.environ, "TMPDIR": str(tmpdir), "AUDITBENCH_JOIN_KEY": key}
            self.procs.append(subprocess.Popen([str(AUDITBENCH), "traffic", "worker", "--master", f"127.0.0.1:{port}"],
                                               stdout=out, stderr=subprocess.STDOUT, env=env))
            out.close()

    def wait(self) -> list[int]:
        return [p.wait(timeout=60) for p in self.procs]

    def summaries(self) -> list[dict[str, Any]]:
        found = []
        for path in self.outputs:
            for line in path.read_text().splitlines():
                if line.startswith("auditbench worker summary "):
                    found.append(json.loads(line.removeprefix("auditbench worker summary ")))
        return found

    def kill_all(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def _run(cluster: Any, tmp: Path, **kw: Any) -> TrafficResult:
    args: dict[str, Any] = dict(mode="closed", users=4, target_rps=None, duration_s=30.0, warmup_s=1.0, seed=3)
    args.update(kw)
    return run_traffic(ClusterInfo.from_local(cluster), "mixed", samples_path=tmp / "samples.csv.gz",
                       canary_path=tmp / "canaries.txt", work_dir=tmp / "locust", **args)


def _master(cluster: Any, tmp: Path, port: int, n: int, **kw: Any) -> TrafficResult:
    """The master runs in the test's main thread (the harness starts children only there:
    their parent-death signal is tied to the starting thread); the workers, started before
    it, keep trying to connect until it listens."""
    remote = RemoteWorkers(n, port=port, join_key=KEY, join_timeout_s=90.0)
    return _run(cluster, tmp, remote=remote, **kw)


def _digest_of(result: TrafficResult) -> Tally:
    tally = Tally()
    for row in read_samples([result.samples_path]).itertuples(index=False):
        tally.add(format_row(row.t, row.cls, row.method, row.ms, row.status, row.bytes, bool(row.ok), row.lag_ms))
    return tally


def test_remote_workers_merge_like_single_process(cluster: Any, tmp_path: Path) -> None:
    requests = 600
    single = _run(cluster, tmp_path / "single", max_requests=requests)
    (port,) = free_ports(1)
    intruder = Workers(tmp_path, port, 1, key="not-the-key", first=2)  # gets no config, so no tokens
    workers = Workers(tmp_path, port, 2)
    try:
        result = _master(cluster, tmp_path / "dist", port, 2, max_requests=requests)
        assert workers.wait() == [0, 0]
        assert intruder.wait() == [1]
    finally:
        workers.kill_all()
        intruder.kill_all()
    assert "wrong join key for this run" in intruder.outputs[0].read_text()
    transport_doc = json.loads((tmp_path / "dist" / "locust" / "transport.json").read_text())
    assert transport_doc["refused_config_requests"] >= 1 and len(transport_doc["workers"]) == 2

    # The same bounded count, each request exactly once.
    assert single.requests == result.requests == requests
    df = read_samples([result.samples_path])
    assert len(df) == requests and not df.duplicated().any()
    sent = workers.summaries()
    assert sorted(s["proc"] for s in sent) == [1, 2] and [s["tally"]["count"] for s in sent] == [300, 300]
    # What the workers recorded (their own printed tallies) is what the merged file holds.
    merged = _digest_of(result)
    assert sum(int(s["tally"]["digest"], 16) for s in sent) % (1 << 64) == merged.digest
    by_class = sum((Counter(s["tally"]["by_class"]) for s in sent), Counter())
    assert dict(by_class) == result.counts_by_class == dict(merged.by_class)
    assert all(t["state"] == "done" and t["verified"] for t in result.transport) and result.lost_workers == []
    # Percentiles: the single-process code path on the same samples gives the reported figures.
    for r in (single, result):
        assert r.latency == summarize(read_samples([r.samples_path]), long_running_classes())
    assert result.workers == 0 and result.remote_workers == 2 and result.loadgen_cpu_util > 0

    # Canaries went to the master's 0600 file, and into no log or output.
    canaries = read_canaries(tmp_path / "dist" / "canaries.txt")
    assert oct((tmp_path / "dist" / "canaries.txt").stat().st_mode & 0o777) == "0o600"
    assert sum(s["canaries"] for s in sent) > 0
    # Users may still plan (making canaries) after their window: every canary sent arrived.
    assert all(t["canaries_received"] == t["canaries_reported"] for t in result.transport)
    assert sum(t["canaries_received"] for t in result.transport) >= sum(s["canaries"] for s in sent)
    assert len(canaries) >= sum(t["canaries_received"] for t in result.transport)
    logs = "".join(p.read_text(errors="replace") for p in [*workers.outputs, *(tmp_path / "dist" / "locust").glob("*.log")])
    assert find_canaries(logs, canaries) == set()
    # The workers' copies of the run's CA and tokens are gone with them.
    assert [list((tmp_path / f"worker-tmp-{i}").iterdir()) for i in range(3)] == [[], [], []]
    print(f"\n{requests} requests: single p50 {single.latency['overall']['p50_ms']:.2f} ms "
          f"p99 {single.latency['overall']['p99_ms']:.2f} ms; 2 remote workers p50 "
          f"{result.latency['overall']['p50_ms']:.2f} ms p99 {result.latency['overall']['p99_ms']:.2f} ms")


def _locust_child(proc: subprocess.Popen[bytes], timeout: float = 60.0) -> psutil.Process:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kids = [c for c in psutil.Process(proc.pid).children() if "locust" in " ".join(c.cmdline())]
        if kids:
            return kids[0]
        time.sleep(0.2)
    raise AssertionError("the worker never started Locust")


def _wait_for_samples(work: Path, procs: tuple[int, ...], timeout: float = 90.0) -> None:
    """Until the master has written rows from each worker (it writes each chunk as it arrives)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = [work / f"samples-{p}.csv" for p in procs]
        if all(f.is_file() and len(f.read_text().splitlines()) > 1 for f in files):
            return
        time.sleep(0.2)
    raise AssertionError("the master received no samples from the workers")


def test_a_killed_worker_is_reported_with_its_lost_samples(cluster: Any, tmp_path: Path) -> None:
    (port,) = free_ports(1)
    workers = Workers(tmp_path, port, 2)
    killed_at: list[float] = []

    def kill_one() -> None:
        victim = _locust_child(workers.procs[1])
        _wait_for_samples(tmp_path / "dist" / "locust", procs=(1, 2))  # both are shipping chunks
        time.sleep(random.uniform(1.0, 3.0))  # at no fixed phase of the worker's flush cadence
        victim.send_signal(signal.SIGKILL)  # the worker's host is gone: nothing more from it
        killed_at.append(time.monotonic())

    try:
        killer: Future[None] = ThreadPoolExecutor(1).submit(kill_one)
        result = _master(cluster, tmp_path / "dist", port, 2, duration_s=12.0, tolerate_lost_workers=True)
        killer.result(timeout=60)
        ended_after_s = time.monotonic() - killed_at[0]
        after_window_s = time.time() - result.window_end  # the survivor's window end
        codes = workers.wait()
    finally:
        workers.kill_all()

    assert codes[0] == 0 and codes[1] != 0
    (lost,) = result.lost_workers
    (survivor,) = [t for t in result.transport if t["state"] == "done"]
    assert survivor["verified"]
    (sent,) = workers.summaries()  # only the survivor lived to print its tally
    assert sent["proc"] == survivor["proc"] and sent["tally"]["count"] == survivor["received"]
    # What arrived from the dead worker before it died is kept; what it had recorded beyond
    # that (per its last progress report) is reported as lost.
    assert lost["received"] > 0 and lost["reported"] >= lost["received"]
    assert result.lost_samples == lost["lost_samples_at_least"] == lost["reported"] - lost["received"]
    assert result.requests == survivor["received"] + lost["received"] == len(read_samples([result.samples_path]))
    assert lost["last_heard_s_before_loss"] is not None and lost["last_heard_s_before_loss"] > 0
    # Locust noticed the missing heartbeats and the run ended with the survivor's window (plus
    # teardown), not at Locust's hard time bound 10 s later.
    assert after_window_s < 6.0
    print(f"\nkilled worker {lost['proc']}: {lost['received']} samples received, its last report said "
          f"{lost['reported']} -> at least {lost['lost_samples_at_least']} lost; detected "
          f"{lost['last_heard_s_before_loss']:.1f}s after it was last heard; run ended {ended_after_s:.1f}s after the kill, "
          f"{after_window_s:.1f}s after the survivor's window")
