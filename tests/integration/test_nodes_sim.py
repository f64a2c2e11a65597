"""Simulated kubelets on the real local backend: 40 nodes at kubelet's intervals, lease
renewals sent as protobuf, which the apiserver decodes and audits as JSON; per-node figures
scale the window to a day."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from bench.measure.variant import MeasureOptions
from bench.report.build import build_report
from bench.results import store
from bench.runner import run_scenario
from bench.traffic.kpb import PROTOBUF

pytestmark = pytest.mark.integration

NODES, WINDOW = 40, 20.0
SCENARIO = {
    "name": "nodes-small", "policies": ["request-all"], "baseline": False,
    "audit": {"log": {"enabled": [True]}},
    "traffic": {"profiles": ["nodes"], "mode": "closed", "duration": f"{WINDOW:g}s", "warmup": "5s", "nodes": [NODES]},
    "repeats": 1, "seed": 9, "timeout": "3m",
}


def test_kubelets_heartbeat_in_protobuf_and_scale_to_a_day(binaries, tmp_path: Path) -> None:
    path = tmp_path / "nodes.yaml"
    path.write_text(yaml.safe_dump(SCENARIO))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    outcome = run_scenario(path, root=tmp_path / "results", console=Console(quiet=True),
                           options=MeasureOptions(keep_scratch=True, scratch_root=scratch, echo=lambda *_: None))
    (r,) = store.load_variants(outcome.run_dir)
    # request-all logs the fixtures' secret canaries ("leaked"), which is its honest status here
    assert r.status in ("ok", "flagged", "leaked"), (r.status, r.error, r.flags)
    fleet = r.growth["nodes"]
    counts = fleet["requests_by_class"]
    assert r.traffic.failures == 0
    # every node renews its lease and checks its status every 10 s
    for cls in ("leases.renew", "nodes.get"):
        assert counts[cls] == pytest.approx(NODES * r.window.duration_s / 10, rel=0.2), cls
    assert "leases.get" not in counts  # each renewal knew the version of the last answer (decoded from protobuf)
    sent = fleet["content_types"]
    assert set(sent["leases.renew"]) == {f"{PROTOBUF} | {PROTOBUF}, application/json"}
    assert all(k.startswith("- | application/vnd.kubernetes.protobuf") for k in sent["nodes.get"])
    # the apiserver decoded the protobuf body and wrote it to the audit event as JSON
    (log,) = list(scratch.glob("*/cluster/audit/audit.log"))
    renewals = [json.loads(line) for line in log.read_text().splitlines()
                if '"verb":"update"' in line and "kube-node-lease" in line]
    assert renewals and all(e["requestObject"]["spec"]["leaseDurationSeconds"] == 40 for e in renewals)
    assert renewals[0]["requestObject"]["kind"] == "Lease"
    # per node per day: the window's events scaled; at Request level ~0.2 requests/s per node
    per_day = fleet["audit_events_per_node_per_day"]
    assert 0.15 * 86400 < per_day < 0.3 * 86400
    assert fleet["audit_bytes_per_node_per_day"] > per_day * 500
    report = build_report(outcome.run_dir).markdown.read_text()
    assert "### Cluster size: what node heartbeats write" in report
