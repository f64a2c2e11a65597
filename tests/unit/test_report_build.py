"""Report, compare and capacity from a synthetic run (tests/fixtures/results/synthetic.py:
made-up figures, clearly marked, never measured)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from bench.report.build import build_capacity, build_report, run_compare

_FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "results" / "synthetic.py"
_spec = importlib.util.spec_from_file_location("synthetic_run_fixture", _FIXTURE)
synthetic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(synthetic)  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return synthetic.make_run(tmp_path_factory.mktemp("results"))


def test_report_files_and_plots(run: Path):
    files = build_report(run, n_boot=100)
    md = files.markdown.read_text()
    html = files.html.read_text()
    assert {p.name for p in files.plots} >= {"latency-cdf-mixed.png", "overhead-p99.png", "bytes-by-level.png",
                                             "webhook-batching.png", "cpu-per-1k.png"}
    for p in files.plots:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"plots/{p.name}" in md and f'src="plots/{p.name}"' in html
    assert "<script" not in html


def test_claims_section_follows_the_figures(run: Path):
    md = build_report(run, n_boot=100).markdown.read_text()
    # the synthetic cost table makes RequestResponse 7x the bytes and 30% slower, etc.
    assert "### RequestResponse is expensive: **supported**" in md
    assert "### Metadata is cheap: **supported**" in md
    assert "### None for noisy resources cuts volume dramatically: **supported**" in md
    assert "### batch-max-wait 5s, not 0: **supported**" in md


def test_too_few_repeats_are_inconclusive(tmp_path: Path):
    two = {**synthetic.CLAIMS_SCENARIO, "repeats": 2}
    md = build_report(synthetic.make_run(tmp_path, scenario=two, n_samples=200), n_boot=50).markdown.read_text()
    assert md.count(": **inconclusive** (") == 4 and "at least 3" in md


def test_claims_not_tested_without_the_variants(tmp_path: Path):
    scenario = {"name": "small", "policies": ["seed-production"], "traffic": {"users": 5, "duration": "10s"},
                "repeats": 2}
    run = synthetic.make_run(tmp_path, scenario=scenario, n_samples=100)
    md = build_report(run, n_boot=50).markdown.read_text()
    assert md.count("**not tested by this run**") == 4


def test_perfdata_export(run: Path):
    doc = json.loads(build_report(run, n_boot=50).perfdata.read_text())
    assert doc["version"] == "v1" and doc["dataItems"]
    item = doc["dataItems"][0]
    assert item["unit"] == "ms" and set(item["data"]) == {"Perc50", "Perc90", "Perc99"}
    assert {"Variant", "Policy", "Metric"} <= set(item["labels"])


def test_compare_two_variants_with_gates(run: Path):
    base = f"{run}:baseline.mixed.r100"
    rr = f"{run}:requestresponse-all.log.wh-batch-5s.mixed.r100"
    out = run_compare(base, rr, ["p99_latency_ratio>1.10", "events_per_request>5"], n_boot=100)
    assert out.tripped
    tripped = {r.gate.text for r in out.gate_results if r.tripped}
    assert tripped == {"p99_latency_ratio>1.10"}
    suite = ET.fromstring(out.junit).find("testsuite")
    assert suite.get("failures") == "1" and suite.get("tests") == "3"
    assert "❌ tripped" in out.markdown and "repeat bootstrap" in out.markdown


def test_compare_a_run_with_itself_pairs_every_variant(run: Path):
    out = run_compare(str(run), str(run), ["p99_latency_ratio>1.01"], n_boot=20)
    assert len(out.comparisons) == 18 and not out.tripped


def test_capacity_plan(run: Path):
    files = build_capacity(run, 800, "mixed", retention_days=30)
    assert files.plot is not None and files.plot.is_file()
    assert "requestresponse-all" in files.text and "GB/day" in files.text


def _cli(*args: str, results: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "AUDITBENCH_RESULTS_DIR": str(results)}
    return subprocess.run([sys.executable, "-m", "bench.cli", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_cli_exit_codes(run: Path, tmp_path: Path):
    root = run.parent
    a, b = f"{run.name}:baseline.mixed.r100", f"{run.name}:requestresponse-all.log.wh-batch-5s.mixed.r100"
    ok = _cli("compare", a, b, "--fail-on", "p99_latency_ratio>2", "--junit", str(tmp_path / "j.xml"),
              "--markdown", str(tmp_path / "s.md"), results=root)
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "j.xml").is_file() and "Gates" in (tmp_path / "s.md").read_text()
    tripped = _cli("compare", a, b, "--fail-on", "p99_latency_ratio>1.10", results=root)
    assert tripped.returncode == 1
    bad_gate = _cli("compare", a, b, "--fail-on", "nonsense>1", results=root)
    assert bad_gate.returncode == 2 and "unknown metric" in bad_gate.stderr and "Traceback" not in bad_gate.stderr
    missing = _cli("report", "no-such-run", results=root)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr


def test_plan_from_the_runs_own_noise(run: Path):
    from bench.report.build import build_plan

    text = build_plan(run, 0.05)
    assert "CPU-ms / 1k req" in text and "repeats needed" in text
    # the synthetic run's CPU noise is ~1% per repeat: a 5% difference needs few repeats
    row = next(line for line in text.splitlines() if line.startswith("| CPU-ms / 1k req"))
    assert int(row.split("|")[4]) <= 5


def test_plan_cli_rejects_a_bad_difference(run: Path):
    bad = _cli("plan", run.name, "--detect", "five", results=run.parent)
    assert bad.returncode == 2 and "--detect" in bad.stderr and "Traceback" not in bad.stderr


def test_noise_rows_give_the_cv_against_the_goals():
    import pandas as pd

    from bench.harness.noise import noise_rows

    frame = pd.DataFrame({"status": ["ok"] * 4, "cpu_ms_per_1k": [1000.0, 1020.0, 980.0, 1000.0],
                          "alloc_bytes_per_1k": [1e8] * 4, "bytes_per_request": [1000.0, 1000.0, 1001.0, 999.0],
                          "client_p50_ms": [5.0, 6.0, 5.5, 5.0], "client_p99_ms": [50.0, 60.0, 55.0, 50.0]})
    rows = {r.metric: r for r in noise_rows(frame)}
    assert rows["cpu_ms_per_1k"].cv == pytest.approx(0.01633, rel=1e-3) and rows["cpu_ms_per_1k"].met
    assert rows["alloc_bytes_per_1k"].cv == 0.0 and rows["bytes_per_request"].met
    assert rows["client_p99_ms"].goal is None and rows["client_p99_ms"].met is None


def test_claims_summary_and_example_copy(run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from bench.report import build
    from bench.report.summary import summary

    text = summary(run, rate=800, profile="mixed")
    assert "| RequestResponse is expensive | **supported**" in text
    assert "| `metadata-all.log.wh-batch-5s.mixed` | measured at 100 req/s" not in text  # 800 is not measured
    assert "extrapolated at 100 req/s" in text
    monkeypatch.setattr("bench.paths.project_root", lambda: tmp_path)
    dest = build.save_example(run, "synthetic")
    assert (dest / "run.json").is_file() and len(list((dest / "variants").glob("*.json"))) == 90
    assert not (dest / "samples").exists()
    assert summary(dest, rate=800) == text.replace(str(run), str(dest))  # the copy says what the run says
