"""The audit webhook's receiver down, slow and failing, under batch, blocking and
blocking-strict, through `auditbench run`: what kube-apiserver v1.37.2 does to the requests
and to the events, and what the result records (apiserver_audit_error_total by plugin,
requests rejected, the receiver's HTTP errors, the per-backend reconciliation).

The policy keeps the RequestReceived stage (blocking-strict fails a request only when that
stage cannot be delivered). The faults cover the window (bench.measure.webhook); a 100 ms
initial backoff makes kube-apiserver give up on a batch after five tries in about 1.3 s
instead of about 90 s. Batches of at most 1 s, so that one is sure to be sent while the
receiver is down.

What was measured here (30 req/s, 8 s windows):
- down 3 s: batch loses the batches sent meanwhile (events failed, requests untouched);
  blocking holds requests through the retries (max ~1-3 s) and loses their events;
  blocking-strict answers HTTP 500 "failed to store audit event": the variant fails.
- slow (200 ms an answer): batch delivers later, requests untouched; blocking and
  blocking-strict wait for each of the two events of a request: p50 above 400 ms.
- failing (60% HTTP 500): batch retries and delivers; blocking slows requests and loses the
  events whose five tries all failed (0.6^5, ~8%); blocking-strict rejects the requests whose
  RequestReceived event was lost: HTTP 500, the variant fails.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.results.schema import VariantResult
from tests.integration.faults import Harness, flat, results_of

pytestmark = pytest.mark.integration


def _run(binaries, tmp_path: Path, receiver: dict[str, float],
         waits: tuple[str, ...] = ("1s",)) -> tuple[int, str, dict[str, VariantResult]]:
    h = Harness(tmp_path, binaries.kube_apiserver.parent)
    scenario = h.scenario({
        "name": "webhook-faults", "policies": ["seed-with-requestreceived"], "baseline": False,
        "audit": {"log": {"enabled": [False]},
                  "webhook": {"enabled": [True], "mode": ["batch", "blocking", "blocking-strict"],
                              "batch_max_wait": list(waits), "initial_backoff": "100ms", "receiver": receiver}},
        "traffic": {"profiles": ["security"], "mode": "open", "target_rps": 30, "duration": "8s", "warmup": "1s"},
    })
    rc, out = h.run("run", str(scenario), "--no-report")
    (run_dir,) = h.run_dirs()
    by_mode = {_key(r): r for r in results_of(run_dir).values()}
    for mode, r in by_mode.items():
        a, t = r.audit, r.traffic
        print(f"{mode}: {r.status} {r.error or ''} | requests {t.requests}, failed {t.failures} {dict(t.errors_by_code)}"
              f" | latency {_lat(r)} | audit errors {a.metrics.error_total}, rejected {a.metrics.requests_rejected_total}"
              f" | receiver http errors {a.webhook.http_errors} | reconciliation {a.reconciliation.get('webhook')}")
    assert set(by_mode) == {"blocking", "blocking-strict"} | {_key_of("batch", w) for w in waits}
    h.assert_nothing_left()
    assert h.scratch_left() == []
    return rc, flat(out), by_mode


def _key_of(mode: str, wait: str) -> str:
    return mode if mode != "batch" or wait == "1s" else f"batch-{wait}"


def _key(r: VariantResult) -> str:
    wh = r.variant.audit["webhook"]
    return _key_of(wh["mode"], f"{wh.get('batch_max_wait_s') or 0:g}s")


def _lat(r: VariantResult) -> Any:
    o = r.latency_client.overall if r.latency_client else None
    return f"p50 {o.p50_ms:.0f} ms, p99 {o.p99_ms:.0f} ms, max {o.max_ms:.0f} ms" if o else "withheld"


def _failed_events(r: VariantResult) -> int:
    return r.audit.reconciliation["webhook"]["failed"]


def _reconciles(r: VariantResult) -> None:
    rec = r.audit.reconciliation["webhook"]
    assert rec["reconciles"], rec


def test_receiver_down(binaries, tmp_path: Path) -> None:
    rc, out, r = _run(binaries, tmp_path, {"down_for_s": 3})
    batch, blocking, strict = r["batch"], r["blocking"], r["blocking-strict"]
    assert rc == 1
    for v in (batch, blocking):
        assert v.traffic.failures == 0 and v.status == "flagged", (v.status, v.error)
        assert _failed_events(v) > 0 and v.audit.metrics.error_total.get("webhook", 0) > 0
        assert any("webhook backend lost events" in f for f in v.flags)
        _reconciles(v)
        assert f"{v.variant_id} r1: audit webhook backend lost events" in out
    # blocking holds the requests that arrive while the receiver is down through the retries
    assert blocking.latency_client.overall.max_ms > 500 > batch.latency_client.overall.p99_ms
    # blocking-strict refuses them
    assert strict.status == "failed" and strict.traffic.errors_by_code.get("500", 0) > 0
    assert strict.audit.metrics.requests_rejected_total > 0
    assert "HTTP 500" in strict.error and f"failed {strict.variant_id} r1:" in out


def test_receiver_slow(binaries, tmp_path: Path) -> None:
    rc, out, r = _run(binaries, tmp_path, {"delay_ms": 200})
    batch, blocking, strict = r["batch"], r["blocking"], r["blocking-strict"]
    for v in (batch, blocking, strict):
        assert v.traffic.failures == 0 and _failed_events(v) == 0, (v.status, v.error)
        _reconciles(v)
    assert batch.latency_client.overall.p50_ms < 100
    # two blocking events per request (RequestReceived, ResponseComplete), 200 ms each
    for v in (blocking, strict):
        assert v.latency_client.overall.p50_ms > 400, _lat(v)
    assert batch.audit.webhook.lag_ms.p50 > blocking.audit.webhook.lag_ms.p50


def test_receiver_failing(binaries, tmp_path: Path) -> None:
    rc, out, r = _run(binaries, tmp_path, {"error_rate": 0.6})
    batch, blocking, strict = r["batch"], r["blocking"], r["blocking-strict"]
    assert rc == 1
    for v in (batch, blocking, strict):
        assert v.audit.webhook.http_errors > 0 and set(v.audit.webhook.http_errors_by_code) == {"500"}
    assert batch.traffic.failures == 0 and blocking.traffic.failures == 0
    _reconciles(batch)
    _reconciles(blocking)
    assert blocking.latency_client.overall.p50_ms > batch.latency_client.overall.p50_ms
    assert _failed_events(blocking) > 0 and blocking.status == "flagged"
    assert strict.status == "failed" and strict.traffic.errors_by_code.get("500", 0) > 0
    assert strict.audit.metrics.requests_rejected_total > 0 and strict.audit.metrics.error_total.get("webhook", 0) > 0
