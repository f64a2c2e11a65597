"""The control plane dies mid-window (SIGKILL, timed from the window's start edge): what the
user sees from `auditbench measure` / `run`, and what the result records.

The issue's headline: with the apiserver killed, a variant was "ok" with every request
failed, a client p50 of 0.5 ms (the time to be refused), 0 CPU and 0 audit bytes per request.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.results import store
from bench.results.schema import MEASURED
from tests.integration.conftest import policy_path
from tests.integration.faults import Harness, flat, results_of, table_row

pytestmark = pytest.mark.integration

KILL_AT_S = 3.0


@pytest.fixture
def harness(binaries, tmp_path: Path) -> Harness:
    return Harness(tmp_path, binaries.kube_apiserver.parent)


def test_apiserver_killed_mid_window_fails_the_measurement_with_the_reason(harness: Harness) -> None:
    rc, out = harness.run("measure", "--policy", str(policy_path("seed-production")), "--profile", "security",
                          "--rate", "40", "--duration", "8s", "--warmup", "1s", fault=f"kube-apiserver@{KILL_AT_S}")
    (kill,) = harness.faults()
    assert kill["at"] - kill["window_start"] == pytest.approx(KILL_AT_S, abs=0.5)
    # What the user sees: exit 1, the reason, and no figure in the summary.
    assert rc == 1, out
    text = flat(out)
    assert "failed: the control plane died during the run: kube-apiserver (killed by SIGKILL)" in text
    assert "requests failed" in text and "without a response (refused, reset or timed out)" in text
    variant_id = "seed-production.log.security"
    row = table_row(out, variant_id)
    assert row[1] == "failed" and set(row[2:]) == {"—"}, row  # req/s, p50, p99, CPU, bytes, events, batches
    # What the result records.
    (run_dir,) = harness.run_dirs()
    r = results_of(run_dir)[variant_id]
    assert r.status == "failed" and "kube-apiserver (killed by SIGKILL)" in r.error
    assert r.apiserver.exit.returncode == -9 and r.apiserver.exit.signal_sent is None
    assert r.latency_client is None and r.latency_server is None
    assert r.apiserver.cpu_ms_per_1k_requests is None and r.audit.log.bytes_per_request is None
    assert r.traffic.failures > 0 and r.traffic.errors_by_code.get("0", 0) > 0
    # The raw samples: requests sent once the apiserver was gone all failed, and no failure
    # came before the kill (what the latency would have been taken over is known, not mixed).
    samples = store.read_samples(run_dir, variant_id, 1)
    inside = samples[(samples["t"] >= r.window.start) & (samples["t"] < r.window.end)]
    after = inside[inside["t"] > kill["at"] + 0.5]
    assert len(after) > 100 and (after["ok"] == 0).all()
    assert (inside.loc[inside["ok"] == 0, "t"] > kill["at"] - 1.0).all()
    assert r.traffic.failures == int((inside["ok"] == 0).sum())
    print(f"kill at +{kill['at'] - kill['window_start']:.2f}s: {r.traffic.failures} of {r.traffic.requests} "
          f"requests failed {dict(r.traffic.errors_by_code)}; flags {r.flags}")
    harness.assert_nothing_left()
    assert harness.scratch_left() == []
    assert store.read_manifest(run_dir).status == "failed"


def test_etcd_killed_mid_window_fails_the_variant_and_the_run_goes_on(harness: Harness) -> None:
    scenario = harness.scenario({
        "name": "etcd-killed", "policies": ["seed-production"], "baseline": True,
        "traffic": {"profiles": ["security"], "mode": "open", "target_rps": 40, "duration": "6s", "warmup": "1s"},
    })
    rc, out = harness.run("run", str(scenario), fault=f"etcd@{KILL_AT_S}@first")
    (kill,) = harness.faults()
    killed_variant = kill["variant"]
    assert rc == 1, out
    text = flat(out)
    assert f"failed {killed_variant} r1: the control plane died during the run: etcd (killed by SIGKILL)" in text
    assert "not ok: " in text and f"{killed_variant} r1: failed" in text
    (run_dir,) = harness.run_dirs()
    results = results_of(run_dir)
    assert len(results) == 2, "the run goes on to the next variant"
    r = results.pop(killed_variant)
    (other,) = results.values()
    assert r.status == "failed" and "etcd (killed by SIGKILL)" in r.error
    assert r.etcd.exit.returncode == -9 and r.latency_client is None
    # The apiserver outlives etcd: requests hang on it (answered 2 s after the window, or not
    # at all) instead of being refused; those still hanging when the traffic stopped are failures.
    print(f"etcd killed: {r.traffic.failures} of {r.traffic.requests} failed {dict(r.traffic.errors_by_code)}; "
          f"apiserver exit {r.apiserver.exit}; flags {r.flags}")
    assert r.traffic.failures > 0
    assert other.status in MEASURED and other.latency_client is not None, (other.status, other.error, other.flags)
    assert other.etcd.exit.clean and other.apiserver.exit.clean
    manifest = store.read_manifest(run_dir)
    assert manifest.status == "complete" and len(manifest.finished) == 2
    report = (run_dir / "report.md").read_text()
    not_ok = report.split("## Variants not ok", 1)[1]
    assert killed_variant in not_ok and "etcd (killed by SIGKILL)" in not_ok
    harness.assert_nothing_left()
    assert harness.scratch_left() == []
