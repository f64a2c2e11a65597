"""`traffic from-log`: classes, shares and rate from an audit log, and how a replay sends them."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from bench.errors import InputError
from bench.scenario.loader import load_scenario
from bench.scenario.matrix import expand
from bench.traffic.actions import Actor, is_ok
from bench.traffic.canary import CanaryFile
from bench.traffic.derive import derive, profile_doc, shape_of, tally, user_kind
from bench.traffic.layout import Layout
from bench.traffic.profiles import Profile, parse_profiles

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "logs" / "whatif-mixed.log"


def _ev(audit_id: str, verb: str, uri: str, user: str, t: str, ref: dict | None = None, stage: str = "ResponseComplete",
        body: dict | None = None) -> dict:
    ev = {"auditID": audit_id, "verb": verb, "requestURI": uri, "user": {"username": user}, "stage": stage,
          "requestReceivedTimestamp": t, "userAgent": "kubectl/v1.37"}
    if ref is not None:
        ev["objectRef"] = ref
    if body is not None:
        ev["requestObject"] = body
    return ev


def test_user_kinds_and_shapes() -> None:
    assert [user_kind(u) for u in ("alice", "system:serviceaccount:a:b", "system:node:n1", "system:kube-scheduler",
                                   "system:anonymous")] == ["human", "serviceaccount", "node", "system", "anonymous"]
    s = shape_of(_ev("1", "get", "/apis/apps/v1/namespaces/x/deployments/d/scale", "alice", "",
                     {"resource": "deployments", "subresource": "scale", "namespace": "x", "apiGroup": "apps",
                      "apiVersion": "v1"}))
    assert s.name == "get deployments.apps/scale namespace human"
    assert shape_of(_ev("2", "get", "/readyz?verbose", "system:anonymous", "")).name == "get /readyz - anonymous"
    assert shape_of(_ev("3", "list", "/api/v1/pods", "system:node:a", "", {"resource": "pods"})).name == \
        "list pods cluster node"


def test_one_request_per_audit_id_shares_rate_and_body_sizes() -> None:
    cm = {"resource": "configmaps", "namespace": "a", "apiVersion": "v1"}
    events = [
        _ev("w", "watch", "/api/v1/pods?watch=1", "alice", "2026-01-01T00:00:00.000000Z", {"resource": "pods"},
            stage="ResponseStarted"),
        _ev("w", "watch", "/api/v1/pods?watch=1", "alice", "2026-01-01T00:00:00.000000Z", {"resource": "pods"}),
        _ev("c1", "create", "/api/v1/namespaces/a/configmaps", "system:serviceaccount:a:b", "2026-01-01T00:00:05.000000Z",
            cm, body={"data": {"k": "x" * 100}}),
        _ev("c2", "create", "/api/v1/namespaces/a/configmaps", "system:serviceaccount:a:b", "2026-01-01T00:00:10.000000Z",
            cm, body={"data": {"k": "x" * 300}}),
    ]
    t = tally(events)
    assert t.total == 3 and t.span_s == 10.0
    assert t.shares() == pytest.approx({"create configmaps namespace serviceaccount": 2 / 3, "watch pods cluster human": 1 / 3})
    doc = profile_doc(t, "p", "log")
    prof = parse_profiles(doc, "x").profiles["p"]
    assert prof.rate_rps == pytest.approx(0.3)
    create = prof.classes["create configmaps namespace serviceaccount"]
    assert create.weight == 2 and create.as_ == "controller" and 200 < create.request.body_bytes < 400
    with pytest.raises(InputError, match="no requests"):
        profile_doc(tally([]), "p", "log")


def test_user_agent_filter_and_a_real_captured_log(tmp_path: Path) -> None:
    doc, t = derive([FIXTURE], "fx", user_agent="python-urllib3")  # the fixture's requests were sent with urllib3
    assert t.total > 0 and t.skipped_agent == 0
    classes = doc["profiles"]["fx"]["classes"]
    assert sum(c["weight"] for c in classes.values()) == t.total
    assert t.total == len({line.split('"auditID":"')[1][:36] for line in FIXTURE.read_text().splitlines()})
    with pytest.raises(InputError, match="no requests"):
        derive([FIXTURE], "fx", user_agent="kubelet/")


def _actor(tmp_path: Path, classes: dict) -> Actor:
    profile = Profile.model_validate({"description": "d", "classes": classes})
    return Actor(profile, Layout("ab-x"), "p0u0", random.Random(1), CanaryFile(tmp_path / "c.txt"), {})


@pytest.mark.parametrize("request_, method, path_end", [
    ({"verb": "get", "scope": "namespace", "resource": "configmaps"}, "GET", "/configmaps/seed-configmap-"),
    ({"verb": "list", "scope": "cluster", "resource": "pods"}, "GET", "/api/v1/pods?limit=500"),
    ({"verb": "get", "scope": "namespace", "resource": "deployments", "group": "apps", "subresource": "scale"},
     "GET", "/deployments/ab-x-replay-absent/scale"),
    ({"verb": "patch", "scope": "cluster", "resource": "nodes", "subresource": "status"}, "PATCH", "/status"),
    ({"verb": "delete", "scope": "namespace", "resource": "secrets"}, "DELETE", "/secrets/ab-x-replay-absent"),
    ({"verb": "create", "scope": "namespace", "resource": "serviceaccounts", "subresource": "token"},
     "POST", "/serviceaccounts/default/token"),
    ({"verb": "get", "scope": "namespace", "resource": "namespaces"}, "GET", "/api/v1/namespaces/ab-x-"),
    ({"verb": "get", "scope": "-", "path": "/readyz"}, "GET", "/readyz"),
])
def test_replayed_requests_have_the_logged_shape(tmp_path: Path, request_: dict, method: str, path_end: str) -> None:
    name = f"{request_['verb']} x namespace human"
    actor = _actor(tmp_path, {name: {"weight": 1, "as": "alice", "request": request_}})
    (req,) = list(actor.plan(name))
    assert req.method == method and path_end in req.path, req.path
    assert actor.identity(name) == "alice"
    assert is_ok(name, 404) and is_ok(name, 400) and not is_ok(name, 503) and not is_ok(name, 0)


def test_a_padded_configmap_create_has_the_logs_body_size(tmp_path: Path) -> None:
    name = "create configmaps namespace serviceaccount"
    actor = _actor(tmp_path, {name: {"weight": 1, "as": "controller",
                                     "request": {"verb": "create", "scope": "namespace", "resource": "configmaps",
                                                 "body_bytes": 5000}}})
    (req,) = list(actor.plan(name))
    assert req.method == "POST" and abs(len(req.data()) - 5000) < 100


@pytest.mark.parametrize("entry, message", [
    ({"weight": 1, "request": {"verb": "get", "scope": "namespace"}}, "either resource"),
    ({"weight": 1, "request": {"verb": "fly", "scope": "namespace", "resource": "pods"}}, "verb 'fly'"),
    ({"weight": 1}, "a replayed class has a request"),
])
def test_bad_replay_classes_are_refused(entry: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Profile.model_validate({"description": "d", "classes": {"get pods namespace human": entry}})


def test_a_scenario_replays_a_derived_profile_at_multiples_of_its_rate(tmp_path: Path) -> None:
    doc, _ = derive([FIXTURE], "captured")
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "captured.yaml").write_text(yaml.safe_dump(doc))
    rate = doc["profiles"]["captured"]["rate_rps"]
    scenario = {"name": "replay", "policies": ["metadata-all"], "audit": {"log": {"enabled": [True]}},
                "traffic": {"profiles_file": "profiles/captured.yaml", "profiles": ["captured"], "mode": "open",
                            "rate_scales": [1, 2, 5], "duration": "30s"}}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(scenario))
    vs = {v.id: v for v in expand(load_scenario(tmp_path / "s.yaml"))}
    assert vs["metadata-all.log.captured.x5"].load.target_rps == pytest.approx(5 * rate, rel=1e-3)
    assert vs["baseline.captured.x2"].load.profiles_file == str((tmp_path / "profiles" / "captured.yaml").resolve())
    scenario["traffic"]["profiles"] = ["mixed"]
    scenario["traffic"].pop("profiles_file")
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(scenario))
    with pytest.raises(InputError, match="rate_rps"):
        load_scenario(tmp_path / "s.yaml")


def test_a_record_that_is_not_an_audit_event_is_refused_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "x.log"
    bad.write_text(FIXTURE.read_text().splitlines()[0] + "\n" + '{"nope": 1}\n')
    with pytest.raises(InputError) as exc:
        derive([bad], "p")
    assert "x.log" in exc.value.line() and "event 2" in exc.value.line() and "not an audit event" in exc.value.line()
