"""The webhook receiver behind a real kube-apiserver (local backend, seed-production policy)."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

from bench.controlplane.audit import AuditSettings, BatchSettings, LogBackend, WebhookBackend
from bench.controlplane.local import LocalCluster
from bench.measure import apimetrics
from bench.webhook.receiver import Faults, Receiver

from .conftest import policy_path

pytestmark = pytest.mark.integration


def _settings(max_wait: str = "1s", backoff: str = "10s") -> AuditSettings:
    return AuditSettings(
        policy=policy_path("seed-production"),
        log=LogBackend(enabled=False),  # the webhook is the only backend: its counts are the apiserver's
        webhook=WebhookBackend(enabled=True, initial_backoff=backoff, batch=BatchSettings(max_wait=max_wait)),
    )


def _captured(receiver: Receiver) -> list[dict]:
    if not receiver.capture_path.exists():
        return []
    return [ev for line in receiver.capture_path.read_bytes().splitlines() for ev in json.loads(line)["events"]]


def _wait_for(receiver: Receiver, marker: str, minimum: int, timeout: float = 15.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in _captured(receiver) if marker in e.get("userAgent", "") + e.get("requestURI", "")]
        if len(found) >= minimum or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def _error_total(cluster: LocalCluster, plugin: str = "webhook") -> int:
    snap = apimetrics.scrape(cluster.client())
    return int(sum(v for labels, v in snap.series("apiserver_audit_error_total").items() if dict(labels).get("plugin") == plugin))


def test_events_arrive_with_the_levels_the_policy_gives(binaries, tmp_path: Path):
    mark = "wh" + uuid.uuid4().hex[:8]
    with Receiver.start_in(tmp_path / "receiver") as receiver:
        with LocalCluster(audit=_settings("1s"), binaries=binaries, run_dir=tmp_path / "cluster",
                          webhook_kubeconfig=receiver.kubeconfig_path, with_controller_manager=False) as cluster:
            admin = cluster.client()
            ua = {"User-Agent": f"auditbench-test/{mark}"}  # finds this test's events, creates included

            def call(method: str, path: str, body: dict | None = None) -> int:
                return admin.request(method, path, body, headers=ua).status

            assert call("POST", "/api/v1/namespaces/default/secrets", {
                "apiVersion": "v1", "kind": "Secret", "metadata": {"name": mark}, "stringData": {"k": "v"}}) == 201
            assert call("GET", f"/api/v1/namespaces/default/secrets/{mark}") == 200
            assert call("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": mark},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
                "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "bob"}]}) == 201
            assert call("GET", "/api/v1/namespaces/default/endpoints") == 200
            assert call("GET", "/api/v1/namespaces/default/serviceaccounts") == 200

            events = _wait_for(receiver, mark, minimum=7)
            generated = apimetrics.scrape(admin).value("apiserver_audit_event_total")
            time.sleep(2.5)  # > batch-max-wait: everything generated before the scrape is delivered
            live = receiver.stats()
        final = receiver.stop()

    by_request = Counter((e["verb"], e["objectRef"]["resource"], e["stage"], e["level"]) for e in events)
    assert by_request == Counter({
        # secrets: Metadata, RequestReceived not omitted by that rule
        ("create", "secrets", "RequestReceived", "Metadata"): 1, ("create", "secrets", "ResponseComplete", "Metadata"): 1,
        ("get", "secrets", "RequestReceived", "Metadata"): 1, ("get", "secrets", "ResponseComplete", "Metadata"): 1,
        # RBAC: Request
        ("create", "clusterrolebindings", "RequestReceived", "Request"): 1,
        ("create", "clusterrolebindings", "ResponseComplete", "Request"): 1,
        # catch-all: Metadata with RequestReceived omitted; endpoints reads: None (no event)
        ("list", "serviceaccounts", "ResponseComplete", "Metadata"): 1,
    })
    crb = next(e for e in events if e["objectRef"]["resource"] == "clusterrolebindings" and e["stage"] == "ResponseComplete")
    assert crb["requestObject"]["roleRef"]["name"] == "view"
    assert all("requestObject" not in e for e in events if e["objectRef"]["resource"] == "secrets")

    # The receiver's counters agree with what it captured and with the apiserver's own count.
    captured = _captured(receiver)
    assert final["events"] == len(captured) >= live["events"] >= generated
    assert final["by_level"] == dict(Counter(e["level"] for e in captured))
    assert final["by_stage"] == dict(Counter(e["stage"] for e in captured))
    assert final["http_errors"] == 0
    # Lag: arrival minus stageTimestamp, bounded by batch-max-wait (1 s) plus delivery.
    assert 0 < final["lag_ms"]["p50"] <= final["lag_ms"]["p99"] < 3000
    assert final["lag_negative"] == 0


def test_a_receiver_answering_500_makes_the_apiserver_retry_then_drop(binaries, tmp_path: Path):
    with Receiver.start_in(tmp_path / "receiver", Faults(error_rate=1.0)) as receiver:
        with LocalCluster(audit=_settings("200ms", backoff="100ms"), binaries=binaries, run_dir=tmp_path / "cluster",
                          webhook_kubeconfig=receiver.kubeconfig_path, with_controller_manager=False) as cluster:
            admin = cluster.client()
            errors_before = _error_total(cluster)
            for _ in range(20):
                admin.get("/api/v1/namespaces/default/configmaps")
            time.sleep(3.0)  # five attempts at 100 ms x 1.5^n backoff take about 0.8 s per batch
            errors = _error_total(cluster) - errors_before
            stats = receiver.stats()
    assert errors >= 20  # at least one event per configmap list was given up on
    assert stats["events"] == 0
    # Upstream's webhook backoff (Steps: 5) posts a failing batch five times before dropping it.
    assert stats["rejected"]["events"] >= 4 * errors
    assert stats["http_errors_by_code"] == {"500": stats["http_errors"]}


def test_a_receiver_that_is_down_loses_events_and_then_recovers(binaries, tmp_path: Path):
    with Receiver.start_in(tmp_path / "receiver") as receiver:
        with LocalCluster(audit=_settings("200ms", backoff="100ms"), binaries=binaries, run_dir=tmp_path / "cluster",
                          webhook_kubeconfig=receiver.kubeconfig_path, with_controller_manager=False) as cluster:
            admin = cluster.client()
            errors_before = _error_total(cluster)
            receiver.go_down(3.0)
            for _ in range(10):
                admin.get("/api/v1/namespaces/default/configmaps?labelSelector=down%3D1")
            time.sleep(3.5)  # the receiver is back
            errors = _error_total(cluster) - errors_before
            mark = "up" + uuid.uuid4().hex[:6]
            admin.get(f"/api/v1/namespaces/default/configmaps?labelSelector=x%3D{mark}")
            after = _wait_for(receiver, mark, minimum=2)
            stats = receiver.stop()
    assert errors >= 20  # 10 lists x 2 stages (configmaps keep RequestReceived): retried, then dropped
    assert len(after) == 2  # delivery resumes once it is back
    assert not [e for e in _captured(receiver) if "down%3D1" in e["requestURI"]]
    (start, end), = stats["faults"]["down_periods"]
    assert 2.5 <= end - start <= 4.5
