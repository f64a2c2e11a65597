"""The receiver as a real process over real loopback HTTPS (no control plane needed)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
import urllib3
import yaml

from bench.errors import InputError
from bench.webhook.receiver import Faults, Receiver


def _event(i: int, level: str = "Metadata", stage: str = "ResponseComplete") -> dict:
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": level, "auditID": f"id-{i}",
            "stage": stage, "requestURI": "/api/v1/namespaces/default/secrets/s", "verb": "get",
            "user": {"username": "alice", "groups": ["developers"]}, "stageTimestamp": now,
            "requestReceivedTimestamp": now, "annotations": {"note": "caf\u00e9 <&>"}}


def _body(events: list[dict]) -> bytes:
    # Shaped like Go's encoder output: kind, apiVersion, metadata, items; compact; newline.
    doc = {"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {}, "items": events}
    return (json.dumps(doc, separators=(",", ":")) + "\n").encode()


def _pool(receiver: Receiver) -> urllib3.PoolManager:
    return urllib3.PoolManager(ca_certs=str(receiver.ca_file), cert_reqs="CERT_REQUIRED", retries=False,
                               timeout=urllib3.Timeout(total=10))


def _post(pool: urllib3.PoolManager, receiver: Receiver, body: bytes) -> int:
    return pool.request("POST", receiver.url, body=body, headers={"Content-Type": "application/json"}).status


def test_batches_are_counted_and_captured_byte_for_byte(tmp_path: Path):
    events = [_event(i) for i in range(3)] + [_event(3, "Request", "ResponseStarted")]
    body = _body(events)
    with Receiver.start_in(tmp_path) as receiver:
        pool = _pool(receiver)
        assert _post(pool, receiver, body) == 200
        assert _post(pool, receiver, _body(events[:1])) == 200
        live = receiver.stats()
    final = receiver.stop()
    assert receiver.stop() == final  # idempotent
    assert live["events"] == final["events"] == 5
    assert final["batches"] == 2 and final["bytes"] == len(body) + len(_body(events[:1]))
    assert final["by_level"] == {"Metadata": 4, "Request": 1}
    assert final["by_stage"] == {"ResponseComplete": 4, "ResponseStarted": 1}
    assert final["events_per_batch"]["histogram"] == {"1": 1, "2-10": 1}
    assert 0 <= final["lag_ms"]["p50"] < 10_000 and final["lag_ms"]["max"] >= final["lag_ms"]["p99"]
    assert final["http_errors"] == 0
    lines = receiver.capture_path.read_bytes().splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert set(first) == {"received_at", "bytes", "events"}
    assert first["bytes"] == len(body) and first["events"] == events
    raw_items = body[body.index(b'"items":') + 8:-2]
    assert raw_items in lines[0]  # the apiserver's bytes, not a re-encoding
    assert final["first_arrival"] <= first["received_at"] <= final["last_arrival"]


def test_kubeconfig_points_at_the_receiver_with_its_ca(tmp_path: Path):
    with Receiver.start_in(tmp_path) as receiver:
        doc = yaml.safe_load(receiver.kubeconfig_path.read_text())
        cluster = doc["clusters"][0]
        assert cluster["name"] == "audit-webhook" and doc["current-context"] == "default"
        assert cluster["cluster"]["server"] == receiver.url
        assert receiver.url.startswith("https://127.0.0.1:") and receiver.url.endswith("/audit")
        assert Path(cluster["cluster"]["certificate-authority"]) == receiver.ca_file
        assert (tmp_path / "webhook-pki" / "receiver.key").stat().st_mode & 0o777 == 0o600
        # Its certificate verifies against the CA; plain HTTP gets nothing useful.
        assert _pool(receiver).request("GET", receiver.url.replace("/audit", "/healthz")).status == 200


def test_bad_bodies_are_refused_with_400(tmp_path: Path):
    with Receiver.start_in(tmp_path) as receiver:
        pool = _pool(receiver)
        assert _post(pool, receiver, b"not json") == 400
        wrong = json.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1beta1", "items": []}).encode()
        assert _post(pool, receiver, wrong) == 400
        assert pool.request("GET", receiver.url).status == 405
    final = receiver.stop()
    assert final["http_errors"] == 3 and final["http_errors_by_code"] == {"400": 2, "405": 1}
    assert final["events"] == 0 and receiver.capture_path.read_bytes() == b""


def test_error_rate_is_deterministic_for_a_seed(tmp_path: Path):
    def run(directory: Path) -> list[int]:
        with Receiver.start_in(directory, Faults(error_rate=0.5, seed=7)) as receiver:
            pool = _pool(receiver)
            codes = [_post(pool, receiver, _body([_event(i)])) for i in range(40)]
            final = receiver.stop()
        assert final["http_errors_by_code"].get("500", 0) == codes.count(500)
        assert final["rejected"]["events"] == codes.count(500)
        assert final["events"] == codes.count(200)
        return codes

    first, second = run(tmp_path / "a"), run(tmp_path / "b")
    assert first == second
    assert 8 <= first.count(500) <= 32  # 40 draws at p=0.5


def test_delay_holds_each_response(tmp_path: Path):
    with Receiver.start_in(tmp_path, Faults(delay_ms=300)) as receiver:
        pool = _pool(receiver)
        _post(pool, receiver, _body([_event(0)]))  # connection set-up outside the timing
        t = time.monotonic()
        assert _post(pool, receiver, _body([_event(1)])) == 200
        assert time.monotonic() - t >= 0.29


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return False
    except ConnectionRefusedError:
        return True


def test_down_interval_refuses_connections_then_recovers(tmp_path: Path):
    with Receiver.start_in(tmp_path, Faults(down_after_s=0.5, down_for_s=1.5)) as receiver:
        pool = _pool(receiver)
        assert _post(pool, receiver, _body([_event(0)])) == 200
        time.sleep(1.0)
        assert _refused(receiver.port)
        with pytest.raises(urllib3.exceptions.HTTPError):
            _post(pool, receiver, _body([_event(1)]))  # the kept-alive connection was reset
        time.sleep(1.5)
        assert _post(_pool(receiver), receiver, _body([_event(2)])) == 200
        final = receiver.stop()
    assert final["events"] == 2
    (start, end), = final["faults"]["down_periods"]
    assert 1.3 <= end - start <= 2.5


def test_go_down_on_demand(tmp_path: Path):
    with Receiver.start_in(tmp_path) as receiver:
        receiver.go_down(1.0)
        time.sleep(0.3)
        assert _refused(receiver.port)
        time.sleep(1.2)
        assert _post(_pool(receiver), receiver, _body([_event(0)])) == 200


def test_faults_set_while_running_then_cleared(tmp_path: Path):
    """A measured variant's receiver is made slow and failing over its window only."""
    with Receiver.start_in(tmp_path) as receiver:
        pool = _pool(receiver)
        assert _post(pool, receiver, _body([_event(0)])) == 200
        receiver.set_faults(delay_ms=300, error_rate=1.0)
        assert _post(pool, receiver, _body([_event(1)])) == 500
        receiver.set_faults(delay_ms=300)
        t = time.monotonic()
        assert _post(pool, receiver, _body([_event(2)])) == 200
        assert time.monotonic() - t >= 0.29
        receiver.set_faults()
        t = time.monotonic()
        assert _post(pool, receiver, _body([_event(3)])) == 200
        assert time.monotonic() - t < 0.25
        with pytest.raises(InputError):
            receiver.set_faults(error_rate=2.0)
        final = receiver.stop()
    assert final["events"] == 3 and final["http_errors_by_code"] == {"500": 1}
    assert final["faults"]["delay_ms"] == 0 and final["faults"]["error_rate"] == 0


def test_faults_are_validated():
    with pytest.raises(InputError):
        Faults(error_rate=1.5)
    with pytest.raises(InputError):
        Faults(down_after_s=3.0)  # without down_for_s
    with pytest.raises(InputError):
        Faults(delay_ms=-1)


def test_receiver_exits_when_the_harness_is_killed(tmp_path: Path):
    harness = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from bench.webhook.receiver import Receiver
        r = Receiver.start_in(Path({str(tmp_path)!r}))
        print(r.pid, flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", harness], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        pid = int(proc.stdout.readline())
        os.kill(pid, 0)  # alive
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            # It is our grandchild's orphan; init reaps it once it exits.
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
            pytest.fail("the receiver outlived its harness")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_other_json_shapes_are_captured_exactly_too(tmp_path: Path):
    ev = _event(0)
    reordered = json.dumps({"items": [ev], "apiVersion": "audit.k8s.io/v1", "kind": "EventList"}, indent=1).encode()
    empty = b'{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":null}\n'
    with Receiver.start_in(tmp_path) as receiver:
        pool = _pool(receiver)
        assert _post(pool, receiver, reordered) == 200
        assert _post(pool, receiver, empty) == 200
    final = receiver.stop()
    first, second = (json.loads(line) for line in receiver.capture_path.read_bytes().splitlines())
    assert first["events"] == [ev] and second["events"] == []
    assert final["events"] == 1 and final["batches"] == 2


def test_a_new_receiver_starts_a_fresh_capture(tmp_path: Path):
    for _ in range(2):
        with Receiver.start_in(tmp_path) as receiver:
            assert _post(_pool(receiver), receiver, _body([_event(0)])) == 200
    assert len(receiver.capture_path.read_bytes().splitlines()) == 1
