"""The lint's body model (bench/policy/bodies.py), checked on the real apiserver.

Secrets are written, read, watched, deleted (one held by a finalizer) and deleted as a
collection under a policy that logs everything at RequestResponse; each secret value is a
canary. For every verb, the canary must be in the logged request body exactly when the model
says that verb's request body holds object data, and in the logged response body only when
the model says the response may hold it (delete answers with the object only while a
finalizer keeps it, so there the model is an upper bound, and this run shows both answers).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bench.controlplane.audit import AuditSettings
from bench.controlplane.local import LocalCluster
from bench.policy import bodies
from bench.traffic.canary import needles, new_canary

pytestmark = pytest.mark.integration

NS = "bodies"
RR_ALL = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: RequestResponse\n"
MERGE = {"Content-Type": "application/merge-patch+json"}


def _secret(name: str, value: str, finalizer: bool = False) -> dict:
    meta: dict = {"name": name}
    if finalizer:
        meta["finalizers"] = ["example.com/keep"]
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "stringData": {"v": value}}


def _traffic(c: LocalCluster, canaries: list[str]) -> None:
    admin = c.client("admin")
    base = f"/api/v1/namespaces/{NS}/secrets"
    admin.post("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    for name in ("a", "b", "c"):
        canaries.append(new_canary())
        assert admin.post(base, _secret(name, canaries[-1], finalizer=name == "b")).status == 201
    got = admin.get(f"{base}/a").json()
    canaries.append(new_canary())
    got["stringData"] = {"v": canaries[-1]}
    assert admin.request("PUT", f"{base}/a", got).status == 200
    canaries.append(new_canary())
    assert admin.request("PATCH", f"{base}/c", {"stringData": {"w": canaries[-1]}}, headers=MERGE).status == 200
    admin.get(f"{base}/a")
    admin.get(base)
    admin.get(f"{base}?watch=1&timeoutSeconds=1")  # the stream carries the secrets
    assert admin.request("DELETE", f"{base}/b").status == 200  # held by its finalizer: answers with the object
    admin.request("PATCH", f"{base}/b", {"metadata": {"finalizers": None}}, headers=MERGE)
    assert admin.request("DELETE", f"{base}/a").status == 200
    assert admin.request("DELETE", base).status == 200  # deletecollection: c


def _has(obj: object, canaries: list[str]) -> bool:
    text = json.dumps(obj)
    return any(n in text for c in canaries for n in needles(c))


def test_which_verb_logs_which_body(binaries, tmp_path: Path) -> None:
    policy = tmp_path / "rr.yaml"
    policy.write_text(RR_ALL)
    canaries: list[str] = []
    cluster = LocalCluster(audit=AuditSettings(policy=policy), binaries=binaries, run_dir=tmp_path / "run",
                           with_controller_manager=False)
    with cluster:
        _traffic(cluster, canaries)
        time.sleep(0.5)  # ResponseComplete events are written after the response
        log = cluster.audit_log_path
    seen: dict[str, dict[str, set[bool]]] = {}
    for line in log.read_text().splitlines():
        ev = json.loads(line)
        ref = ev.get("objectRef") or {}
        if ref.get("resource") != "secrets" or ref.get("namespace") != NS or ev["stage"] != "ResponseComplete":
            continue
        verb = ev["verb"]
        row = seen.setdefault(verb, {"request": set(), "response": set(), "request_kind": set()})
        row["request"].add(_has(ev.get("requestObject"), canaries))
        row["response"].add(_has(ev.get("responseObject"), canaries))
        row["request_kind"].add((ev.get("requestObject") or {}).get("kind"))
    print(json.dumps({v: {k: sorted(map(str, x)) for k, x in r.items()} for v, r in seen.items()}, indent=1))
    assert set(seen) == {"create", "get", "update", "patch", "list", "watch", "delete", "deletecollection"}
    # A verb the model says may carry data does (a patch of only the finalizers does not, so
    # "some"); a verb it says cannot, never does.
    for verb, row in seen.items():
        assert (True in row["request"]) == (verb in bodies.REQUEST_DATA_VERBS), verb
        assert (True in row["response"]) == (verb in bodies.RESPONSE_DATA_VERBS), verb
    for verb in ("get", "list", "create", "update", "deletecollection"):
        assert seen[verb]["response"] == {True}, verb
    assert seen["delete"]["response"] == {True, False}  # the object while a finalizer holds it, else a Status
    # delete and deletecollection send DeleteOptions at most (kubectl sends one; we send none)
    assert seen["delete"]["request_kind"] <= {None, "DeleteOptions"}
    assert seen["deletecollection"]["request_kind"] <= {None, "DeleteOptions"}
    assert seen["watch"]["request_kind"] == {None} and seen["get"]["request_kind"] == {None}
