"""A slow consumer over time, bounded for CI: a 40 s window in which the webhook receiver is
slow for 20 s and down for the first 10 s of it, starting 10 s into the window. The per-second
series, the stretch's timing and the verdict come from the real apiserver."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from rich.console import Console

from bench.analysis.soak import soak_verdict
from bench.report.build import build_report
from bench.results import store
from bench.runner import run_scenario

pytestmark = pytest.mark.integration

SCENARIO = {
    "name": "soak-ci", "policies": ["metadata-all"], "baseline": False,
    "audit": {"log": {"enabled": [False]},
              "webhook": {"enabled": [True], "mode": ["batch"], "batch_max_wait": ["1s"],
                          "receiver": {"delay_ms": 500, "down_for_s": 10, "fault_at": "10s", "fault_for": "20s"}}},
    "traffic": {"profiles": ["mixed"], "mode": "open", "rates": [50], "duration": "40s", "warmup": "2s"},
    "timeseries": "1s", "repeats": 1, "seed": 5, "timeout": "3m",
}


def test_soak_series_stretch_and_verdict(binaries, tmp_path: Path) -> None:
    path = tmp_path / "soak.yaml"
    path.write_text(yaml.safe_dump(SCENARIO))
    outcome = run_scenario(path, root=tmp_path / "results", console=Console(quiet=True))
    (r,) = store.load_variants(outcome.run_dir)
    assert r.status in ("ok", "flagged"), (r.status, r.error, r.flags)
    w, wh = r.window, r.audit.webhook
    points = [p for p in r.series["points"] if w.start <= p["t"] <= w.end]
    metrics = [p for p in points if p["heap_inuse_bytes"] is not None]  # /metrics points (batch mode: never stalled)
    procs = [p for p in points if p["rss_bytes"] is not None]  # /proc points
    assert len(metrics) >= 0.9 * w.duration_s and len(procs) >= 0.9 * w.duration_s
    # the stretch is timed from the window's start, not from the receiver's
    start, end = wh.fault_stretch
    assert start - w.start == pytest.approx(10.0, abs=1.5) and end - start == pytest.approx(20.0, abs=1.5)
    assert wh.receiver_down_at == pytest.approx(start, abs=1.0)
    before = [p for p in procs if p["t"] < start]
    down = [p for p in procs if start + 1 < p["t"] < start + 9]
    assert max(p["receiver_connections"] for p in before) >= 1  # batches arrive on a kept-alive connection
    assert min(p["receiver_connections"] for p in down) == 0  # down: connections reset, new ones refused
    assert all(p["goroutines"] and p["audit_events"] is not None for p in metrics)
    # events generated while the receiver was down waited (backlog) or failed/dropped: none vanished
    errors = metrics[-1]["audit_errors"]
    m_before = [p for p in metrics if p["t"] < start]
    m_down = [p for p in metrics if start + 1 < p["t"] < start + 9]
    assert max(p["backlog_events"] for p in m_down) > max(p["backlog_events"] for p in m_before) \
        or errors.get("buffered", 0) + errors.get("webhook", 0) > 0
    assert wh.periods["in_window"]["events"] > 0
    v = soak_verdict(r.series, (w.start, w.end), (start, end))
    assert v["verdict"] in ("bounded", "grows", "inconclusive") and v["heap_inuse_bytes"]["before_median"] > 0
    assert v["latency_p99_ms"]["before"] is not None
    report = build_report(outcome.run_dir).markdown.read_text()
    assert "### A slow consumer over time" in report and (outcome.run_dir / "plots" / "growth-soak.png").is_file()
