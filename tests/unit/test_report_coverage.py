"""Cost and coverage in the report and the capacity plan: a run keeps its RequestResponse capture
(bench.logs.capture) and every policy of the run is replayed against it (bench.report.coverage).

The run is the synthetic fixture (made-up cost figures, tests/fixtures/results/synthetic.py);
the capture is a real one from the local control plane (tests/fixtures/logs/whatif-capture.log)."""

from __future__ import annotations

import gzip
import importlib.util
import json
from pathlib import Path

import pytest

from bench.logs import capture
from bench.policy.loader import load_policy, parse_policy_text
from bench.report import coverage
from bench.report.build import build_capacity, build_report

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
_spec = importlib.util.spec_from_file_location("synthetic_run_fixture", FIXTURES / "results" / "synthetic.py")
synthetic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(synthetic)  # type: ignore[union-attr]

SCENARIO = {**synthetic.CLAIMS_SCENARIO, "repeats": 2,
            "audit": {"log": {"enabled": [True]}, "webhook": {"enabled": [False]}}, "traffic": {
                "profiles": ["mixed"], "users": 10, "duration": "20s", "warmup": "2s"}}


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    run_dir = synthetic.make_run(tmp_path_factory.mktemp("results"), SCENARIO, n_samples=200)
    rr = next(p for p in (run_dir / "variants").glob("requestresponse-all*-r1.json"))
    target = run_dir / capture.capture_file(rr.name.removesuffix("-r1.json"), 1)
    target.parent.mkdir(parents=True)
    target.write_bytes(gzip.compress((FIXTURES / "logs" / "whatif-capture.log").read_bytes()))
    return run_dir


def test_report_shows_cost_and_coverage_side_by_side(run: Path) -> None:
    files = build_report(run, n_boot=50, detections="article")
    md = files.markdown.read_text()
    section = md.split("## Cost and coverage")[1].split("\n## ")[0]
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in section.splitlines() if line.startswith("| ") and not line.startswith("| policy")}
    assert set(rows) == {"metadata-all", "requestresponse-all", "seed-no-none-rules", "seed-production"}
    # columns: measured, replayed, then the article's three detections, then "keeps every detection"
    assert rows["metadata-all"][2:] == ["1/1", "0/1 ✗", "0/0", "**no**"]
    assert rows["seed-production"][2:] == ["1/1", "1/1", "0/0", "yes"]
    assert "metadata-all misses `clusterrolebinding-to-cluster-admin`: requestObject.roleRef.name not logged at Metadata" \
        in section
    assert "the capture" not in section or "RequestReceived" not in section  # the fixture omits no stage
    html = files.html.read_text()
    assert "<h2>Cost and coverage</h2>" in html and "0/1 ✗" in html
    cached = json.loads((run / "captures" / "coverage.json").read_text())
    assert cached["coverage"]["capture_requests"] == 29


def test_capacity_plan_has_coverage_columns(run: Path) -> None:
    files = build_capacity(run, 100.0, "mixed", detections="article")
    section = files.text.split("## Cost and coverage at this rate")[1]
    meta = next(line for line in section.splitlines() if "| metadata-all |" in line)
    assert "0/1 ✗" in meta and "**no**" in meta


def test_without_a_capture_the_report_says_how_to_get_one(tmp_path: Path) -> None:
    run_dir = synthetic.make_run(tmp_path, SCENARIO, n_samples=100)
    md = build_report(run_dir, n_boot=20).markdown.read_text()
    assert "No coverage: this run kept no RequestResponse capture" in md
    assert coverage.compute(run_dir, []) is None


def test_capture_keeps_the_window_of_a_full_capture_once(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    lines = [json.dumps({"auditID": str(i), "requestReceivedTimestamp": f"2026-01-01T00:00:0{i}.500000Z"}) for i in range(6)]
    log.write_text("\n".join(lines) + "\n")
    start = 1767225602.0  # 2026-01-01T00:00:02Z
    rr_all = ROOT / "policies" / "requestresponse-all.yaml"
    kept = capture.keep([log], rr_all, (start, start + 2.0), tmp_path / "run", "rr.log.mixed", 2)
    assert kept == tmp_path / "run" / "captures" / "rr.log.mixed-r2.log.gz"
    assert [json.loads(x)["auditID"] for x in gzip.decompress(kept.read_bytes()).splitlines()] == ["2", "3"]
    assert capture.keep([log], rr_all, (start, start + 2.0), tmp_path / "run", "rr.log.mixed", 3) is None
    assert capture.keep([log], ROOT / "policies" / "metadata-all.yaml", (0, 1e10), tmp_path / "run", "m", 1) is None
    assert capture.is_full_capture(load_policy(rr_all))
    assert not capture.is_full_capture(parse_policy_text(
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitManagedFields: true\nrules:\n- level: RequestResponse\n"))
    assert not capture.is_full_capture(load_policy(ROOT / "policies" / "seed-production.yaml"))
