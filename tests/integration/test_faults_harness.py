"""The harness itself SIGKILLed mid-window, then `auditbench cleanup` and `run --resume`.

SIGKILL runs no `finally` and no atexit: what stops the children is each one's own link to
the harness (the death signal of etcd, kube-apiserver, kube-controller-manager and Locust;
the webhook receiver's stdin), and what removes their scratch is the process registry that
`auditbench cleanup` (and every cluster start) reads.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bench.results import store
from bench.results.schema import MEASURED
from tests.integration.faults import Harness, flat, processes, results_of

pytestmark = pytest.mark.integration

KILL_AT_S = 2.0


def test_harness_killed_mid_run_leaves_nothing_and_resume_goes_on(binaries, tmp_path: Path) -> None:
    h = Harness(tmp_path, binaries.kube_apiserver.parent)
    scenario = h.scenario({
        "name": "harness-killed", "policies": ["seed-production"], "baseline": True,
        "audit": {"webhook": {"enabled": [True], "batch_max_wait": ["1s"]}},
        "traffic": {"profiles": ["security"], "mode": "open", "target_rps": 30, "duration": "6s", "warmup": "1s"},
    })
    proc = h.start("run", str(scenario), fault=f"harness@{KILL_AT_S}@first")
    seen: dict[str, int] = {}
    deadline = time.monotonic() + 240
    while proc.poll() is None and time.monotonic() < deadline:  # count them while they run
        for role, pids in processes(h.marker).items():
            seen[role] = max(seen.get(role, 0), len(pids))
        time.sleep(0.2)
    if proc.poll() is None:
        proc.kill()
        pytest.fail("the harness was not killed by its fault within 240 s")
    print(proc.communicate()[0])
    assert proc.returncode == -9, "the harness was to be killed by its own fault"
    (kill,) = h.faults()
    first = kill["variant"]
    print(f"processes while {first} ran: {seen}")
    expected = {"etcd", "kube-apiserver", "kube-controller-manager", "locust"}
    assert expected | ({"webhook-receiver"} if "wh" in first else set()) <= set(seen), seen

    # Nothing orphaned: each child goes with the harness.
    h.assert_nothing_left(timeout=30)
    (run_dir,) = h.run_dirs()
    manifest = store.read_manifest(run_dir)
    assert manifest.status == "running" and manifest.finished == []  # killed: nothing marked, nothing half-written
    assert list(run_dir.glob("variants/*.json")) == []

    # What a killed harness cannot remove itself, cleanup does: the variant's scratch (keys,
    # tokens, the audit log) and etcd's data directory, named in the process registry.
    registry = sorted((tmp_path / "cache" / "state" / "procs").glob("*.json"))
    owned = {Path(p) for rec in registry for p in json.loads(rec.read_text())["paths"]}
    assert any(p.name.startswith(f"auditbench-{first}-r1-") for p in owned), owned
    assert [p for p in owned if p.exists()], "the scratch is still there before cleanup"
    rc, out = h.run("cleanup")
    assert rc == 0 and ("nothing left behind" in out or "killed:" in out), out
    assert [p for p in owned if p.exists()] == [], "cleanup removed what the dead harness owned"
    assert list((tmp_path / "cache" / "state" / "procs").glob("*.json")) == []
    assert h.scratch_left() == []

    # Resume: the killed variant runs again, then the next; both finish.
    rc, out = h.run("run", str(scenario), "--resume", manifest.run_id, "--no-report")
    results = results_of(run_dir)
    assert set(results) == {v.variant_id for v in manifest.order}, flat(out)
    for vid, r in results.items():
        assert r.status in MEASURED and r.latency_client is not None, (vid, r.status, r.error, r.flags)
    assert rc == (0 if all(r.status == "ok" for r in results.values()) else 1), flat(out)
    assert store.read_manifest(run_dir).status == "complete"
    h.assert_nothing_left()
    assert h.scratch_left() == []
