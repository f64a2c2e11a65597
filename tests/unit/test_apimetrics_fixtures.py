"""apimetrics over real /metrics text captured from the local kube-apiserver v1.37.2."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.measure import apimetrics
from bench.measure.apimetrics import parse_metrics

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "metrics"


def _pair(name: str) -> tuple[apimetrics.Snapshot, apimetrics.Snapshot]:
    before = parse_metrics((FIXTURES / f"{name}-before.txt").read_text(), taken_at=100.0)
    after = parse_metrics((FIXTURES / f"{name}-after.txt").read_text(), taken_at=110.0)
    return before, after


def test_request_counts_match_the_traffic_that_was_sent():
    # 20 rounds of: list namespaces, get a namespace, create, merge-patch, update, delete a
    # configmap; then one deletecollection of configmaps (reported as DELETE) and a watch.
    before, after = _pair("seed")
    counts = apimetrics.apiserver_process(before, after)["requests_by_verb_code"]
    assert counts["LIST"] == {"200": 20}
    assert counts["PATCH"] == {"200": 20}
    assert counts["PUT"] == {"200": 20}
    assert counts["DELETE"] == {"200": 21}
    assert counts["POST"]["201"] >= 20  # ours, plus the controller manager's service accounts
    assert counts["WATCH"] == {"200": 1}


def test_latency_split_on_real_histograms():
    before, after = _pair("seed")
    lat = apimetrics.latency_server(before, after)
    assert lat["mutating"]["count"] == 85  # 20 POST + 4 POST (controller manager) + 20 PATCH + 20 PUT + 21 DELETE
    # ClusterLoader2's classes: (resource, subresource, verb, scope)
    assert lat["readonly"]["count"] == lat["by_class"]["LIST namespaces cluster"]["count"] + sum(
        v["count"] for k, v in lat["by_class"].items() if k.startswith("GET "))
    assert "GET namespaces resource" in lat["by_class"]
    assert lat["all"]["count"] == lat["mutating"]["count"] + lat["readonly"]["count"]
    assert not any(k.startswith("WATCH") for k in lat["by_class"])  # excluded as CL2 does
    for key in ("all", "mutating", "readonly", "sli_all", "sli_mutating", "sli_readonly"):
        s = lat[key]
        values = [s[f"{q}_ms"] for q in ("p50", "p90", "p99")]
        for q, v in zip(("p50", "p90", "p99"), values):
            lo, hi = s["bounds_ms"][q]
            # A value is given only outside the first bucket, and always inside its bucket.
            assert (v is None) == (lo == 0.0), (key, q)
            assert v is None or lo <= v <= hi, (key, q)
        known = [v for v in values if v is not None]
        assert known == sorted(known), key
    # The SLI histogram's first bucket is 50 ms: a median below it is not interpolated
    # from zero; it is reported as "below 50 ms".
    assert lat["sli_all"]["p50_ms"] is None and lat["sli_all"]["bounds_ms"]["p50"] == [0.0, 50.0]


def test_audit_counters_without_errors():
    before, after = _pair("seed")
    audit = apimetrics.audit_metrics(before, after)
    assert audit["event_total"] == 342
    assert audit["error_total"] == {}
    assert audit["level_total"]["Metadata"] == 182 and audit["level_total"]["Request"] == 19
    assert audit["requests_rejected_total"] == 0


def test_webhook_answering_500_shows_as_webhook_errors():
    before, after = _pair("webhook-500")
    audit = apimetrics.audit_metrics(before, after)
    assert audit["error_total"] == {"webhook": 101}
    assert "buffered" not in audit["error_total"]  # nothing dropped for a full buffer
    assert audit["event_total"] == 102


def test_process_figures():
    before, after = _pair("seed")
    proc = apimetrics.apiserver_process(before, after)
    assert proc["cpu_seconds"] == pytest.approx(0.43)
    assert proc["rss_end_bytes"] == 302526464
    assert proc["alloc_bytes"] == 19640568
    assert proc["window_s"] == 10.0


def test_a_reset_counter_counts_from_zero():
    before = apimetrics.Snapshot(0.0, {"apiserver_audit_event_total": {(): 500.0}})
    after = apimetrics.Snapshot(1.0, {"apiserver_audit_event_total": {(): 20.0}})
    assert apimetrics.audit_metrics(before, after)["event_total"] == 20


def test_parse_keeps_only_wanted_families():
    snap = parse_metrics("# TYPE foo counter\nfoo_total 3\nprocess_cpu_seconds_total 1.5\n")
    assert set(snap.samples) == {"process_cpu_seconds_total"}
    assert snap.value("process_cpu_seconds_total") == 1.5


def test_a_partial_parse_gives_the_series_and_audit_figures_of_the_full_one():
    from bench.measure import metricnames as names
    from bench.measure.server import series_point

    text = (FIXTURES / "seed-after.txt").read_text()
    full = parse_metrics(text, taken_at=110.0)
    part = parse_metrics(text, taken_at=110.0, wanted=frozenset(names.SERIES + names.AUDIT))
    assert series_point(part) == series_point(full)
    assert all(part.series(n) == full.series(n) for n in names.AUDIT)
    assert not part.series(f"{names.DURATION}_bucket") and full.series(f"{names.DURATION}_bucket")
