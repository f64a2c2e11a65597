"""The README's main job, end to end: `auditbench run scenarios/smoke.yaml` on the real local
backend (about 3 minutes), ending with a report."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bench.paths import project_root

pytestmark = pytest.mark.integration


def test_smoke_scenario_runs_end_to_end_and_writes_a_report(binaries, tmp_path):
    env = dict(os.environ, AUDITBENCH_RESULTS_DIR=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-m", "bench.cli", "run", str(project_root() / "scenarios" / "smoke.yaml")],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["status"] == "complete"
    assert len(manifest["finished"]) == len(manifest["order"]) == 6
    assert all(f["status"] == "ok" for f in manifest["finished"])
    for name in ("report.md", "report.html", "perfdata.json", "scenario.yaml"):
        assert (run_dir / name).is_file(), name
    assert len(list((run_dir / "samples").glob("*.csv.gz"))) == 6
    report = (run_dir / "report.md").read_text()
    assert "Metadata is cheap" in report and "Which policy rule costs most" in report
    # Two repeats decide no claim: the report says so rather than guessing.
    assert "**inconclusive** (2 repeat(s), a verdict needs at least 3)" in report
    doc = json.loads(next((run_dir / "variants").glob("seed-production*-r1.json")).read_text())
    assert doc["schema_version"] == 2 and doc["flags"] == []
    assert doc["variant"]["load"] == {**doc["variant"]["load"], "mode": "open", "target_rps": 100.0}
    assert abs(doc["traffic"]["achieved_rps"] - 100.0) <= 2.0  # the offered rate, kept
    assert doc["audit"]["canaries"]["checked"] > 0 and not doc["audit"]["canaries"]["leaked"]
    assert doc["audit"]["webhook"]["events"] > 0 and doc["audit"]["log"]["bytes_per_request"] > 0
    assert all(r["reconciles"] for r in doc["audit"]["reconciliation"].values())
    assert doc["latency_client"]["overall"]["count"] > 100
