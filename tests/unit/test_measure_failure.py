"""A failed variant: the reason names what died and how, its figures are withheld, audit
events lost are flagged, and a damaged audit log line is counted instead of failing the read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.errors import InputError
from bench.logs.heads import log_rows
from bench.measure import reconcile
from bench.measure.failure import describe_codes, how_it_ended
from bench.measure.variant import judge
from bench.results.flatten import flatten
from bench.results.schema import VariantResult

KILLED = {"signal_sent": None, "killed": False, "returncode": -9, "seconds": 0.0, "clean": False, "sigterm_at": None}
STOPPED = {"signal_sent": "SIGTERM", "killed": False, "returncode": 0, "seconds": 0.4, "clean": True, "sigterm_at": 1.0}


def _doc(died: list[str], requests: int = 393, failures: int = 234) -> dict[str, Any]:
    """A judged-to-be document shaped as bench.measure.variant.assemble makes it (the figures
    of a variant whose apiserver was SIGKILLed 3 s into an 8 s window, rounded)."""
    return {
        "run_id": "r", "variant_id": "seed-production.log.security", "repeat": 1, "status": "ok",
        "variant": {"policy": "seed-production", "profile": "security",
                    "load": {"mode": "open", "target_rps": 50.0, "duration_s": 8.0}},
        "window": {"start": 0.0, "end": 7.85, "duration_s": 7.85},
        "metrics_bracket": {"start": 0.07, "end": 1.3, "labels": ["start", "timer"], "coverage": 0.16},
        "traffic": {"requests": requests, "failures": failures, "error_rate": failures / requests,
                    "errors_by_code": {"0": failures} if failures else {}, "achieved_rps": 50.06,
                    "duration_s": 7.85},
        "latency_client": {"overall": {"count": 159, "p50_ms": 9.3, "p99_ms": 73.9}},
        "latency_server": {"all": {"count": 90, "p50_ms": 12.0}},
        "apiserver": {"cpu_seconds": 0.69, "cpu_ms_per_1k_requests": 1755.7, "alloc_bytes_per_1k_requests": 2.5e8,
                      "rss_peak_bytes": 298_328_064, "requests_by_verb_code": {"POST": {"201": 41}},
                      "exit": KILLED},
        "etcd": {"cpu_seconds": 0.21, "rss_peak_bytes": 45_637_632, "exit": STOPPED},
        "audit": {"metrics": {"event_total": 159, "error_total": {}},
                  "log": {"bytes": 287_666, "events": 330, "bytes_per_request": 732.0, "events_per_request": 0.84},
                  "reconciliation": {"log": {"generated": 159, "written": 159, "dropped": 0, "failed": 0,
                                             "unaccounted": 0, "reconciles": True}},
                  "canaries": {"checked": 3, "leaked": []}},
        "_died": died, "_errors": [],
    }


def test_failure_codes_in_words():
    assert describe_codes({"500": 1, "0": 234, "unfinished": 17}) == (
        "234 without a response (refused, reset or timed out), 17 unanswered when the traffic stopped, 1 HTTP 500")


def test_a_component_that_died_by_itself_is_named_with_how():
    assert how_it_ended("kube-apiserver", KILLED) == "kube-apiserver (killed by SIGKILL)"
    assert how_it_ended("etcd", {**KILLED, "returncode": 2}) == "etcd (exit code 2)"
    assert how_it_ended("etcd", STOPPED) == "etcd"  # the harness stopped it: nothing to add
    assert how_it_ended("etcd", None) == "etcd"


def test_a_dead_apiserver_fails_the_variant_and_no_figure_survives():
    doc = _doc(["kube-apiserver (killed by SIGKILL)"])
    judge(doc, 0.01)
    assert doc["status"] == "failed"
    assert doc["error"].startswith("the control plane died during the run: kube-apiserver (killed by SIGKILL); "
                                   "234 of 393 requests failed (59.5%, bound 1%): 234 without a response")
    r = VariantResult.model_validate(doc)
    assert r.latency_client is None and r.latency_server is None
    assert r.apiserver.cpu_seconds is None and r.apiserver.cpu_ms_per_1k_requests is None
    assert r.apiserver.alloc_bytes_per_1k_requests is None and r.apiserver.rss_peak_bytes is None
    assert r.etcd.cpu_seconds is None and r.traffic.achieved_rps is None
    assert r.audit.log.bytes_per_request is None and r.audit.log.events_per_request is None
    # the evidence stays
    assert r.apiserver.exit.returncode == -9 and r.apiserver.requests_by_verb_code == {"POST": {"201": 41}}
    assert (r.traffic.requests, r.traffic.failures, r.traffic.errors_by_code) == (393, 234, {"0": 234})
    assert r.audit.log.events == 330 and r.audit.metrics.event_total == 159
    row = flatten(r)
    assert row["status"] == "failed" and row["requests"] == 393 and row["failures"] == 234
    for figure in ("client_p50_ms", "server_p50_ms", "cpu_ms_per_1k", "achieved_rps", "bytes_per_request",
                   "events_per_request", "alloc_bytes_per_1k", "etcd_cpu_seconds"):
        assert row[figure] is None, figure


def test_failed_requests_alone_fail_the_variant_and_its_figures_are_withheld_too():
    doc = _doc([], requests=266, failures=35)
    judge(doc, 0.01)
    assert doc["status"] == "failed" and doc["error"].startswith("35 of 266 requests failed")
    assert doc["latency_client"] is None


def test_within_the_bound_the_figures_stay():
    doc = _doc([], requests=1000, failures=5)
    doc["metrics_bracket"]["coverage"] = 1.0
    judge(doc, 0.01)
    assert doc["status"] == "ok", doc["flags"]
    assert doc["latency_client"]["overall"]["p50_ms"] == 9.3 and doc["apiserver"]["cpu_seconds"] == 0.69


def test_audit_events_lost_are_flagged_with_their_numbers():
    rec = reconcile.reconcile({"event_total": 780, "error_total": {"log": 521}}, {"error_total": {"log": 144}},
                              {"staged_in_bracket": 259}, None, "blocking", None)
    assert rec["log"]["reconciles"] and rec["log"]["failed"] == 521
    (line,) = reconcile.losses(rec)
    assert "log backend lost events" in line and "521 failed (not written" in line and "of 780" in line
    assert reconcile.losses({"log": {"generated": 10, "written": 10, "dropped": 0, "failed": 0}}) == []
    doc = _doc([], requests=1000, failures=0)
    doc["metrics_bracket"]["coverage"] = 1.0
    doc["audit"]["reconciliation"] = rec
    judge(doc, 0.01)
    assert doc["status"] == "flagged" and any("521 failed" in f for f in doc["flags"])


def test_a_line_a_failed_write_cut_short_is_counted_not_fatal(tmp_path: Path):
    event = {"kind": "Event", "level": "Metadata", "stage": "ResponseComplete", "verb": "get",
             "requestReceivedTimestamp": "2026-12-02T04:37:16.000001Z", "stageTimestamp": "2026-12-02T04:37:16.002Z"}
    line = json.dumps(event)
    log = tmp_path / "audit.log"
    log.write_text(line + "\n" + line + "\n" + line[: len(line) // 2])  # ENOSPC mid-write
    damaged: list[str] = []
    assert len(list(log_rows([log], damaged))) == 2
    assert damaged == ["audit.log: line 3"]
    with pytest.raises(InputError, match="line 3"):  # the strict reader (auditbench logs) still refuses it
        list(log_rows([log]))


# Lines of a real kube-apiserver v1.37.2 log (receiver down, webhook batch mode), shortened.
APISERVER_LOG = '''\
I1202 04:39:14.901303   18973 controller.go:667] quota admission added evaluator for: endpoints
E1202 04:39:23.323639   18973 metrics.go:110] Error in audit plugin 'webhook' affecting 3 audit events: Post "https://127.0.0.1:38259/audit?timeout=30s": dial tcp 127.0.0.1:38259: connect: connection refused
Impacted events:
2026-12-02T04:39:19.90339827Z AUDIT: id="0a" stage="ResponseComplete" ip="127.0.0.1" method="get" user="alice" groups="\\"a\\"" as="<self>" asgroups="<lookup>" user-agent="auditbench-traffic/1 (locust)" namespace="<none>" uri="/api/v1/nodes" response="200"
2026-12-02T04:39:21.40339827Z AUDIT: id="68d7" stage="RequestReceived" ip="127.0.0.1" method="create" user="alice" groups="\\"a\\"" as="<self>" asgroups="<lookup>" user-agent="auditbench-traffic/1 (locust)" namespace="<none>" uri="/apis/rbac.authorization.k8s.io/v1/clusterrolebindings" response="<deferred>"
2026-12-02T04:39:21.40339827Z AUDIT: id="68d7" stage="ResponseComplete" ip="127.0.0.1" method="create" user="alice" groups="\\"a\\"" as="<self>" asgroups="<lookup>" user-agent="auditbench-traffic/1 (locust)" namespace="<none>" uri="/apis/rbac.authorization.k8s.io/v1/clusterrolebindings" response="201"
I1202 04:39:24.000001   18973 controller.go:667] something else
2026-12-02T04:39:21.5Z AUDIT: id="zz" stage="ResponseComplete" ip="127.0.0.1" method="get" user="x" groups="" as="<self>" asgroups="<lookup>" user-agent="" namespace="<none>" uri="/" response="200"
E1202 04:39:28.371163   18973 metrics.go:110] Error in audit plugin 'buffered' affecting 1 audit events: audit backend shut down
Impacted events:
2026-12-02T04:39:21.640905607Z AUDIT: id="634b" stage="ResponseComplete" ip="127.0.0.1" method="watch" user="system:apiserver" groups="" as="<self>" asgroups="<lookup>" user-agent="kube-apiserver/v1.37.2" namespace="<none>" uri="/api/v1/services?watch=true" response="200"
'''


def test_undelivered_events_are_assigned_to_the_window_by_their_requests_arrival():
    from datetime import UTC, datetime

    from bench.measure.plugin_errors import failed_in

    t = datetime(2026, 12, 2, 4, 39, 20, tzinfo=UTC).timestamp()
    lines = APISERVER_LOG.splitlines()
    # the first event arrived before the window: its batch failed in it, it does not count
    f = failed_in(lines, (t, t + 5))
    assert f.in_span == {"webhook": 2, "buffered": 1}
    assert failed_in(lines, (t - 5, t + 5)).in_span == {"webhook": 3, "buffered": 1}
    assert failed_in(lines, (t + 10, t + 20)).in_span == {"webhook": 0, "buffered": 0}
    # events of requests that arrived within the band before an edge may be stamped across it
    # (RequestReceived never: it is stamped on arrival)
    near = failed_in(lines, (t + 1.0, t + 1.6), band=1.5)
    assert near.near_start["webhook"] == 1 and near.near_end["webhook"] == 1 and near.in_span["webhook"] == 2
    # the reconciliation takes these over the counter when it has them
    rec = reconcile.webhook_backend(100, {"in_window": 98}, {"webhook": 400}, {}, True, failed_in_bracket=2)
    assert rec["failed"] == 2 and rec["unaccounted"] == 0 and rec["reconciles"]
    assert reconcile.webhook_backend(100, {"in_window": 98}, {"webhook": 400}, {}, True)["failed"] == 400
    # 6 of 492 unaccounted is outside 1%, unless as many failed events straddle the start edge
    assert not reconcile.webhook_backend(492, {"in_window": 452}, {}, {}, False, failed_in_bracket=34)["reconciles"]
    ok = reconcile.webhook_backend(492, {"in_window": 452}, {}, {}, False, failed_in_bracket=34, near_edges={"start": 3, "end": 2})
    assert ok["reconciles"] and ok["failed_near_edges"] == {"start": 3, "end": 2}
    assert not reconcile.webhook_backend(492, {"in_window": 452}, {}, {}, False, failed_in_bracket=34, near_edges={"start": 0, "end": 9})["reconciles"]


def test_counters_read_during_a_slow_scrape_widen_the_reconciliation():
    """Blocking webhook, 60% HTTP 500s: the end scrape waited 1.27 s on its own audit event,
    so the counters were read anywhere in it; 8 of 512 unaccounted is within that."""
    from bench.measure.variant import edge_events

    bracket = {"start": 100.0, "end": 108.39, "read_after_ms": [186.7, 1266.1]}
    slack = edge_events({"event_total": 512}, bracket)
    assert 88 < slack < 89  # 512 events over 8.39 s, for 1.45 s of reads
    assert edge_events({"event_total": 512}, {}) == 0.0
    rec = reconcile.reconcile({"event_total": 512, "error_total": {"webhook": 40}}, None, None,
                              {"staged_in_bracket": {"in_window": 440, "after_window": 24}, "failed_in_bracket": 40},
                              None, "blocking", slack)
    assert rec["webhook"]["unaccounted"] == 8 and rec["webhook"]["reconciles"]
    quick = edge_events({"event_total": 512}, {**bracket, "read_after_ms": [10.0, 10.0]})
    assert not reconcile.reconcile({"event_total": 512, "error_total": {}}, None, None,
                                   {"staged_in_bracket": {"in_window": 464}, "failed_in_bracket": 40},
                                   None, "blocking", quick)["webhook"]["reconciles"]

