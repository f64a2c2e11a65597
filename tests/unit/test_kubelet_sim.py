"""The node simulator: protobuf framing and kubelet's schedule (pure)."""

from __future__ import annotations

import random

import pytest

from bench.measure.growth import fleet_figures
from bench.traffic import kpb
from bench.traffic.kubelet import RENEW_S, STATUS_CHECK_S, STATUS_REPORT_S, Kubelet, content_type_of


def test_lease_body_is_a_k8s_envelope_with_the_leases_fields() -> None:
    body = kpb.lease_body("n1", "kube-node-lease", "n1", 40, 1_700_000_000.25, "123")
    api_version, kind, raw = kpb.unwrap(body)
    assert body[:4] == b"k8s\x00" and (api_version, kind) == ("coordination.k8s.io/v1", "Lease")
    top = {f: v for f, _, v in kpb.fields(raw)}
    meta = {f: v for f, _, v in kpb.fields(top[1])}
    assert meta == {1: b"n1", 3: b"kube-node-lease", 6: b"123"}
    spec = {f: v for f, _, v in kpb.fields(top[2])}
    assert spec[1] == b"n1" and spec[2] == 40
    renew = {f: v for f, _, v in kpb.fields(spec[4])}
    assert renew == {1: 1_700_000_000, 2: 250_000_000}
    assert kpb.resource_version(body) == "123"


def test_varints_and_bad_input() -> None:
    assert kpb._varint(1) == b"\x01" and kpb._varint(300) == b"\xac\x02"
    assert kpb._read_varint(kpb._varint(2**40 + 5), 0) == (2**40 + 5, 6)
    assert kpb.resource_version(b'{"kind":"Lease"}') is None  # JSON, not protobuf
    assert kpb.resource_version(kpb.MAGIC + b"\x0a\xff") is None  # truncated
    with pytest.raises(ValueError):
        list(kpb.fields(b"\x0b"))  # wire type 3 (groups) is not used by Kubernetes


def _drain(k: Kubelet, until: float) -> list[tuple[float, str]]:
    out = []
    while True:
        at, reqs = k.next()
        if at > until:
            return out
        for r in reqs:
            if r.after is not None:
                body = kpb.lease_body(k.name, "kube-node-lease", k.name, 40, at, str(int(at))) if "lease" in r.cls else None
                r.after(201 if r.cls == "leases.register" else 200, body)
            out.append((at, r.cls))


def test_a_node_keeps_kubelets_intervals_after_registering() -> None:
    k = Kubelet("ab-1-node-p0u0", "system:node:worker-1", random.Random(3), start=1000.0, clock=lambda: 1000.0)
    sent = _drain(k, 1000.0 + 3600)
    first = [c for t, c in sent if t == 1000.0]
    assert first[:4] == ["nodes.register", "leases.register", "pods.listnode", "nodes.listself"]
    renew = [t for t, c in sent if c == "leases.renew"]
    assert all(b - a == pytest.approx(RENEW_S) for a, b in zip(renew, renew[1:]))
    assert len(renew) == pytest.approx(3600 / RENEW_S, abs=1)
    checks = [t for t, c in sent if c == "nodes.get"]
    assert len(checks) == pytest.approx(3600 / STATUS_CHECK_S, abs=1)
    reports = [t for t, c in sent if c == "nodes.status"]
    assert reports[0] == pytest.approx(1000.5)  # right after registering
    assert all(b - a == pytest.approx(STATUS_REPORT_S) for a, b in zip(reports[1:], reports[2:]))
    watches = [t for t, c in sent if c.endswith(".watchnode")]
    assert 2 + 2 * 3600 / 600 <= len(watches) <= 2 + 2 * 3600 / 300 + 2
    assert "leases.get" not in {c for _, c in sent}  # every renewal knew its version


def test_a_lost_version_makes_the_next_renewal_get_the_lease_first() -> None:
    k = Kubelet("n", "h", random.Random(1), start=0.0, clock=lambda: 0.0)
    k.next()  # registration: the create's answer never came
    assert k.lease_rv is None
    while True:
        _, reqs = k.next()
        if any(r.cls == "leases.renew" for r in reqs):
            break
    assert [r.cls for r in reqs] == ["leases.get", "leases.renew"]
    reqs[0].after(200, kpb.lease_body("n", "kube-node-lease", "h", 40, 1.0, "77"))
    assert kpb.resource_version(reqs[1].data()) == "77"
    assert content_type_of(reqs[1]) == kpb.PROTOBUF and "protobuf" in reqs[1].headers["Accept"]


def test_fleets_start_at_random_phases() -> None:
    phases = set()
    for i in range(20):
        k = Kubelet(f"n{i}", "h", random.Random(i), start=0.0, clock=lambda: 0.0)
        k.next()
        due = sorted((d.at, d.action) for d in k._queue)
        phases.add(round(next(t for t, a in due if a == "renew"), 3))
    assert len(phases) == 20 and all(0 <= p < RENEW_S for p in phases)


def test_fleet_figures_scale_the_window_to_a_day_per_node() -> None:
    fig = fleet_figures(100, 60.0, {"leases.renew": 600, "nodes.get": 600},
                        {"leases.renew": {"application/vnd.kubernetes.protobuf | x": 600}},
                        {"update leases.coordination.k8s.io": {"events": 600, "bytes": 600_000}})
    assert fig["requests_per_node_per_day"] == pytest.approx(1200 * 1440 / 100)
    assert fig["audit_events_per_node_per_day"] == pytest.approx(600 * 1440 / 100)
    assert fig["audit_bytes_per_node_per_day"] == pytest.approx(600_000 * 1440 / 100)
    assert fleet_figures(100, 60.0, {}, {}, None).get("audit_bytes") is None


def test_a_late_node_does_not_catch_up_with_a_burst() -> None:
    now = [0.0]
    k = Kubelet("n", "h", random.Random(2), start=0.0, clock=lambda: now[0])
    k.next()  # registration at 0
    sent = []  # (when sent, class)
    stalled = False
    while len([c for _, c in sent if c == "leases.renew"]) < 5:
        at, reqs = k.next()
        now[0] = max(now[0], at)
        sent += [(now[0], r.cls) for r in reqs]
        if not stalled and any(r.cls == "leases.renew" for r in reqs):
            stalled, stall_at = True, now[0]
            now[0] += 25.0  # the apiserver answers this renewal 25 s late
    renewals = [t for t, c in sent if c == "leases.renew"]
    # after the stall: one overdue renewal at once, then a period after it; no burst of the missed ones
    assert renewals[1] == pytest.approx(stall_at + 25.0)
    assert [b - a for a, b in zip(renewals[1:], renewals[2:])] == pytest.approx([RENEW_S] * 3)
