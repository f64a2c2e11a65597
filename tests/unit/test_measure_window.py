"""One window for every figure: assignment at the edges, reconciliation, bracket coverage."""

from __future__ import annotations

import json
import math
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from bench.agents import BACKGROUND, HARNESS, TRAFFIC, TRAFFIC_AGENT, origin
from bench.logs.heads import Batch, Row, capture_batches, log_rows
from bench.measure import reconcile
from bench.measure.auditlog import log_figures, tally_rows
from bench.measure.base import Window
from bench.measure.client import client_figures
from bench.measure.process import window_figures
from bench.measure.server import Scrape, choose_bracket, coverage
from bench.measure.webhook import period_of, tally_batches, webhook_figures
from bench.traffic.launcher import END_MARGIN_S, EdgeTimer

W = Window(1000.0, 1010.0)


def ts(t: float) -> str:
    """Go's MicroTime text of unix time t."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event(received: float, staged: float | None = None, agent: str = TRAFFIC_AGENT, level: str = "Metadata",
          stage: str = "ResponseComplete", user: str = "bob") -> dict:
    return {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": level, "auditID": "x", "stage": stage,
            "requestURI": "/api/v1/namespaces/a/secrets/s", "verb": "get", "user": {"username": user},
            "userAgent": agent, "objectRef": {"resource": "secrets", "namespace": "a", "name": "s", "apiVersion": "v1"},
            "responseStatus": {"code": 200}, "requestReceivedTimestamp": ts(received),
            "stageTimestamp": ts(received + 0.002 if staged is None else staged)}


def row(received: float, staged: float | None = None, who: str = TRAFFIC, nbytes: int = 100) -> Row:
    return Row(received, received if staged is None else staged, "Metadata", "ResponseComplete", "get", "secrets",
               "bob", who, nbytes)


# --- origin and heads --------------------------------------------------------------------
def test_origin_by_user_agent():
    assert origin(TRAFFIC_AGENT) == TRAFFIC
    assert origin("auditbench-harness/1 (metrics)") == HARNESS
    assert origin("kube-controller-manager/v1.37.2 (linux/amd64)") == BACKGROUND
    assert origin("") == BACKGROUND and origin(None) == BACKGROUND


def test_log_rows_read_timestamps_resource_and_size(tmp_path: Path):
    lines = [json.dumps(event(1000.5), separators=(",", ":")),
             json.dumps(event(1001.0, agent="auditbench-harness/1 (metrics)"), separators=(",", ":"))]
    live = tmp_path / "audit.log"
    live.write_text("\n".join(lines) + "\n")
    rows = list(log_rows([live]))
    assert [r.origin for r in rows] == [TRAFFIC, HARNESS]
    assert rows[0].received == pytest.approx(1000.5, abs=1e-6)
    assert rows[0].staged == pytest.approx(1000.502, abs=1e-6)
    assert rows[0].resource == "secrets" and rows[0].nbytes == len(lines[0]) + 1


def test_capture_batches_keep_arrival_and_share_bytes(tmp_path: Path):
    cap = tmp_path / "capture.webhook.jsonl"
    cap.write_text(json.dumps({"received_at": 1003.0, "bytes": 900, "events": [event(1002.0), event(1002.1), event(1002.2)]}) + "\n")
    (batch,) = list(capture_batches(cap))
    assert batch.received_at == 1003.0 and len(batch.rows) == 3 and batch.rows[0].nbytes == 300


# --- the log in the window -----------------------------------------------------------------
def test_log_window_edges_and_origins():
    rows = [row(999.999), row(1000.0), row(1009.999), row(1010.0),  # start in, end out
            row(1005.0, who=HARNESS), row(1005.0, who=BACKGROUND), row(math.nan)]
    t = tally_rows(rows, W, bracket=(1000.02, 1009.98))
    fig = log_figures(t, requests=2)
    assert fig["events"] == 2 and fig["bytes"] == 200 and fig["bytes_per_request"] == 100.0
    assert fig["origin"]["harness"]["events"] == 1 and fig["origin"]["background"]["events"] == 1
    assert fig["outside_window"]["before"]["events"] == 1 and fig["outside_window"]["after"]["events"] == 1
    assert fig["outside_window"]["undated"] == 1
    # staged in the bracket: the 1009.999 event falls after it, 1000.0 before it
    assert fig["staged_in_bracket"] == 2


# --- webhook batches by arrival ------------------------------------------------------------
def test_period_of_arrival():
    assert period_of(999.9, W, 1012.0) == "before"
    assert period_of(1000.0, W, 1012.0) == "in_window"
    assert period_of(1010.0, W, 1012.0) == "after_window"
    assert period_of(1012.0, W, 1012.0) == "flushed_at_shutdown"
    assert period_of(1020.0, W, None) == "after_window"


def test_shutdown_flush_is_reported_apart_from_delivery():
    # Steady state at batch-max-wait 0s: one or two events per batch; then the buffer
    # flushed at SIGTERM in full batches of 400.
    steady = [Batch(1000.0 + i * 0.1, 200, [row(1000.0 + i * 0.1 - 0.05)] * (1 + i % 2)) for i in range(100)]
    flush = [Batch(1012.5 + i * 0.01, 40_000, [row(1001.0)] * 400) for i in range(3)]
    t = tally_batches(steady + flush, W, sigterm_at=1012.0, bracket=(999.9, 1010.0))
    fig = webhook_figures(t, W)
    assert fig["batches"] == 100 and fig["events"] == 150
    assert fig["events_per_batch"]["p50"] == 1 and fig["events_per_batch"]["p90"] == 2
    assert fig["flushed_at_shutdown"]["batches"] == 3 and fig["flushed_at_shutdown"]["events"] == 1200
    assert fig["batches_per_s"] == 10.0 and fig["events_per_s"] == 15.0
    assert fig["staged_in_bracket"] == {"in_window": 150, "flushed_at_shutdown": 1200}
    assert fig["lag_ms"]["p50"] == pytest.approx(50.0, rel=0.02)


def test_backlog_from_before_the_receiver_listened_is_counted_apart_from_lag():
    # An external apiserver kept running while no receiver listened: a retried batch arrives in
    # the window with events staged 90 s earlier. They are delivered, but their lag is the gap
    # between runs, not the webhook's: counted as backlog, left out of lag_ms.
    fresh = [Batch(1000.0 + i * 0.5, 200, [row(1000.0 + i * 0.5 - 0.1)]) for i in range(20)]
    late = [Batch(1005.0, 40_000, [row(910.0)] * 400)]
    t = tally_batches(fresh + late, W, sigterm_at=None, bracket=None, since=995.0)
    fig = webhook_figures(t, W)
    assert fig["events"] == 420 and fig["backlog_events"] == 400
    assert fig["lag_ms"]["max"] < 200
    mixed = webhook_figures(tally_batches(fresh + late, W, sigterm_at=None, bracket=None), W)
    assert mixed["backlog_events"] == 0 and mixed["lag_ms"]["p99"] > 90_000


# --- reconciliation -------------------------------------------------------------------------
def test_reconciliation_arithmetic():
    audit = {"event_total": 27_733, "error_total": {"buffered": 17_603}}
    wh = {"staged_in_bracket": {"in_window": 120, "after_window": 10, "flushed_at_shutdown": 10_000}}
    log = {"staged_in_bracket": 27_733}
    rec = reconcile.reconcile(audit, {"error_total": {}}, log, wh, "blocking", "batch")
    assert rec["log"]["reconciles"] and rec["log"]["unaccounted"] == 0
    w = rec["webhook"]
    assert w["dropped"] == 17_603 and w["flushed_at_shutdown"] == 10_000 and w["unaccounted"] == 0 and w["reconciles"]
    assert reconcile.problems(rec) == []


def test_reconciliation_flags_missing_events_with_numbers():
    audit = {"event_total": 1000, "error_total": {}}
    rec = reconcile.reconcile(audit, None, {"staged_in_bracket": 980}, None, "blocking", None)
    assert not rec["log"]["reconciles"] and rec["log"]["unaccounted"] == 20
    (line,) = reconcile.problems(rec)
    assert "log backend does not reconcile" in line and "generated 1000" in line and "written 980" in line
    assert "allowed 10" in line


def test_reconciliation_tolerance_and_slack():
    assert reconcile.log_backend(1000, 990, {}, False)["reconciles"]  # exactly 1%
    assert not reconcile.log_backend(1000, 989, {}, False)["reconciles"]
    assert reconcile.log_backend(10, 8, {}, False)["reconciles"]  # the edge scrapes' own events
    assert not reconcile.log_backend(10, 7, {}, False)["reconciles"]
    # the counters were read somewhere in the scrapes' spans: events made meanwhile are slack
    assert reconcile.log_backend(1000, 979, {}, False, edge_events=12.0)["reconciles"]
    assert not reconcile.log_backend(1000, 977, {}, False, edge_events=12.0)["reconciles"]


def test_edge_events_from_the_scrapes_read_spans():
    from bench.measure.variant import edge_events

    bracket = {"start": 1000.0, "end": 1010.0, "read_after_ms": [40.0, 60.0]}
    assert edge_events({"event_total": 1200}, bracket) == pytest.approx(12.0)  # 120 events/s for 0.1 s
    assert edge_events(None, bracket) == 0.0


def test_reconciliation_when_both_backends_buffer():
    rec = reconcile.reconcile({"event_total": 100, "error_total": {"buffered": 50}}, None,
                              {"staged_in_bracket": 50}, {"staged_in_bracket": {"in_window": 50}}, "batch", "batch")
    assert rec["log"]["dropped"] == 50 and rec["webhook"]["dropped"] == 0 and "cannot be attributed" in rec["webhook"]["note"]


def test_no_audit_nothing_to_reconcile():
    assert reconcile.reconcile({"event_total": 0}, None, None, None, None, None) == {}


# --- the /metrics bracket --------------------------------------------------------------------
def test_bracket_coverage():
    assert coverage((1000.02, 1009.97), W) == pytest.approx(0.995)
    assert coverage((990.0, 1020.0), W) == 1.0
    assert coverage((1005.0, 1006.0), W) == pytest.approx(0.1)


def test_counters_are_read_when_the_headers_arrive_not_mid_transfer():
    slow = Scrape(1000.0, 1000.4, "", "start", headers_at=1000.03)
    assert slow.at == 1000.03  # not 1000.2: the transfer after the gather does not move the edge
    assert Scrape(1000.0, 1000.4, "", "start").at == pytest.approx(1000.2)


def test_bracket_prefers_edge_scrapes_and_falls_back_to_nearest():
    s = [Scrape(994.0, 994.04, "", "initial"), Scrape(1000.0, 1000.04, "", "start"),
         Scrape(1004.0, 1004.04, "", "timer"), Scrape(1009.9, 1009.94, "", "end")]
    first, last = choose_bracket(s, W)
    assert (first.label, last.label) == ("start", "end") and first.at == pytest.approx(1000.02)
    first, last = choose_bracket(s[:3], W)  # the end scrape failed
    assert (first.label, last.label) == ("start", "timer")
    assert choose_bracket(s[:1], W) is None


# --- /proc and client figures ------------------------------------------------------------------
def test_process_cpu_is_the_edge_difference():
    edges = {"start": (1000.0, 10.00, 100), "end": (1010.0, 18.75, 300)}
    samples = [(999.0, 9.0, 50), (1005.0, 14.0, 500), (1011.0, 19.0, 900)]
    fig = window_figures(edges, samples, 1000.0, 1010.0)
    assert fig["cpu_seconds"] == 8.75 and fig["rss_peak_bytes"] == 500 and fig["samples_in_window"] == 3


def test_client_figures_exclude_failures_from_latency():
    df = pd.DataFrame({"t": [999.0, 1000.0, 1001.0, 1002.0, 1010.0], "cls": ["a"] * 5, "method": ["GET"] * 5,
                       "ms": [50.0, 10.0, 20.0, 0.5, 70.0], "status": [200, 200, 200, 0, 200], "bytes": [1] * 5,
                       "ok": [1, 1, 1, 0, 1]})
    fig = client_figures(df, W)
    assert fig["requests"] == 3 and fig["failures"] == 1 and fig["error_rate"] == pytest.approx(1 / 3)
    assert fig["latency"]["overall"]["count"] == 2 and fig["latency"]["overall"]["p50_ms"] == 15.0
    assert fig["errors_by_code"] == {"0": 1}


# --- window edges from the Locust processes ------------------------------------------------------
def _windows(work: Path, spans: list[tuple[float, float]]) -> None:
    for i, (a, b) in enumerate(spans):
        (work / f"window-{i}.json").write_text(json.dumps({"proc": i, "record_from": a, "record_to": b}))


def test_edge_timer_fires_at_the_common_window(tmp_path: Path):
    fired: list[tuple[str, float]] = []
    now = time.time()
    _windows(tmp_path, [(now + 0.2, now + 0.6), (now + 0.25, now + 0.7)])
    timer = EdgeTimer(tmp_path, 2, lambda e: fired.append((e, time.time())))
    timer.start()
    time.sleep(0.8)
    timer.finish()
    assert [e for e, _ in fired] == ["start", "end"]
    assert fired[0][1] >= now + 0.25  # the latest start: every process records
    assert fired[1][1] >= now + 0.6 - END_MARGIN_S and fired[1][1] < now + 0.6  # before the first stops
    assert timer.planned == pytest.approx((now + 0.25, now + 0.6 - END_MARGIN_S))


def test_edge_timer_end_fires_when_a_request_bounded_run_ends_early(tmp_path: Path):
    fired: list[str] = []
    now = time.time()
    _windows(tmp_path, [(now + 0.05, now + 60.0)])
    timer = EdgeTimer(tmp_path, 1, fired.append)
    timer.start()
    time.sleep(0.3)
    timer.finish()
    assert fired == ["start", "end"]


def test_edge_timer_never_fires_end_without_start(tmp_path: Path):
    fired: list[str] = []
    timer = EdgeTimer(tmp_path, 1, fired.append)  # no window file: Locust never recorded
    timer.start()
    threading.Event().wait(0.1)
    timer.finish()
    assert fired == []
