from __future__ import annotations

import base64
import json
import random
import re
from pathlib import Path

import pytest

from bench.traffic.actions import Actor, is_ok
from bench.traffic.canary import CanaryFile, needles, read_canaries
from bench.traffic.catalog import CLASSES
from bench.traffic.layout import Layout
from bench.traffic.profiles import Profile

_DNS = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def _actor(tmp_path: Path, classes: dict[str, float] | None = None, seed: int = 1) -> tuple[Actor, Path]:
    classes = classes or {name: 1.0 for name in CLASSES}
    profile = Profile.model_validate({"description": "t", "classes": classes, "pool_size": 3})
    canary_path = tmp_path / "canaries.txt"
    actor = Actor(profile, Layout("ab-abc123"), "p0u1", random.Random(seed), CanaryFile(canary_path),
                  {"bob": ("bob", ["developers"])})
    return actor, canary_path


def _run(actor: Actor, cls: str, status: int = 201, body: bytes | None = None) -> list:
    sent = []
    for req in actor.plan(cls):
        sent.append(req)
        if req.after:
            req.after(status, body)
    return sent


def test_every_class_plans_requests_with_valid_names(tmp_path: Path) -> None:
    actor, _ = _actor(tmp_path)
    lease = json.dumps({"metadata": {"resourceVersion": "7"}}).encode()
    for cls in CLASSES:
        reqs = _run(actor, cls, 201, lease)
        assert reqs[-1].cls == cls
        for req in reqs:
            assert req.path.startswith("/")
            assert req.method in {"GET", "POST", "PUT", "PATCH", "DELETE"}
            if req.body is not None and "metadata" in req.body and "name" in req.body["metadata"]:
                assert _DNS.match(req.body["metadata"]["name"]), req.body["metadata"]["name"]
                assert len(req.body["metadata"]["name"]) <= 63


def test_secret_values_are_recorded_canaries(tmp_path: Path) -> None:
    actor, canary_path = _actor(tmp_path)
    (req,) = _run(actor, "secrets.create")
    values = list(req.body["stringData"].values())
    recorded = read_canaries(canary_path)
    assert values and set(values) <= set(recorded)
    assert canary_path.stat().st_mode & 0o777 == 0o600
    (upd,) = _run(actor, "configmaps.update", 200)
    assert set(upd.body["data"].values()) <= set(read_canaries(canary_path))
    assert upd.method == "PUT" and "resourceVersion" not in upd.body["metadata"]


def test_canary_needles_are_exact_base64() -> None:
    canary = "abcanary" + "0" * 28
    plain, b64 = needles(canary)
    assert plain == canary and "=" not in b64
    assert base64.b64decode(b64).decode() == canary


def test_delete_uses_owned_objects_and_creates_one_when_pool_is_empty(tmp_path: Path) -> None:
    actor, _ = _actor(tmp_path, {"pods.create": 1, "pods.delete": 1})
    first = _run(actor, "pods.delete", 201)
    assert [r.cls for r in first] == ["pods.create", "pods.delete"]
    assert first[1].path.endswith("/" + first[0].body["metadata"]["name"])
    created = _run(actor, "pods.create", 201)[0]
    ns_path = created.path
    deleted = _run(actor, "pods.delete", 200)
    # the pool is per namespace; the created pod may be in another namespace than the delete
    if deleted[-1].path.startswith(ns_path):
        assert [r.cls for r in deleted] == ["pods.delete"]


def test_pool_is_bounded(tmp_path: Path) -> None:
    actor, _ = _actor(tmp_path, {"nodes.create": 1})
    for _ in range(10):
        _run(actor, "nodes.create", 201)
    assert len(actor._pools["nodes/"]) == 3


def test_connect_requests_look_like_kubectl(tmp_path: Path) -> None:
    actor, _ = _actor(tmp_path)
    (req,) = _run(actor, "pods.exec", 400)
    assert req.method == "POST"
    assert re.match(r"^/api/v1/namespaces/ab-abc123-production/pods/seed-pod-\d/exec\?command=ls", req.path)
    assert req.headers["Upgrade"] == "SPDY/3.1" and req.headers["Connection"] == "Upgrade"
    assert is_ok("pods.exec", 400) and not is_ok("pods.get", 400) and not is_ok("pods.exec", 0)


def test_lease_heartbeat_creates_once_then_puts_with_resource_version(tmp_path: Path) -> None:
    actor, _ = _actor(tmp_path, {"leases.update": 1})
    created = json.dumps({"metadata": {"resourceVersion": "41"}}).encode()
    first = _run(actor, "leases.update", 201, created)
    assert [r.cls for r in first] == ["leases.create", "leases.update"]
    assert first[1].body["metadata"]["resourceVersion"] == "41"
    second = list(actor.plan("leases.update"))
    assert [r.cls for r in second] == ["leases.update"]
    second[0].after(409, b"")  # conflict: forget the version, read it again next time
    third = list(actor.plan("leases.update"))
    assert [r.cls for r in third] == ["leases.get", "leases.update"]


def test_same_seed_same_class_sequence(tmp_path: Path) -> None:
    a, _ = _actor(tmp_path, seed=5)
    b, _ = _actor(tmp_path, seed=5)
    assert [a.pick() for _ in range(200)] == [b.pick() for _ in range(200)]


def test_watches_are_bounded_streams(tmp_path: Path) -> None:
    actor, _ = _actor(tmp_path)
    (req,) = _run(actor, "pods.watch", 200)
    assert req.stream and "watch=true" in req.path and "timeoutSeconds=5" in req.path


def test_tokenreview_never_sends_a_real_token(tmp_path: Path) -> None:
    actor, _ = _actor(tmp_path)
    (req,) = _run(actor, "tokenreviews.create")
    assert req.body["spec"]["token"].startswith("abfake-")


@pytest.mark.parametrize("cls", ["clusterrolebindings.create"])
def test_cluster_admin_binding(tmp_path: Path, cls: str) -> None:
    actor, _ = _actor(tmp_path)
    (req,) = _run(actor, cls)
    assert req.body["roleRef"]["name"] == "cluster-admin"
    assert req.body["metadata"]["name"].startswith("ab-abc123-")


def test_find_canaries_plain_and_base64(tmp_path: Path) -> None:
    from bench.traffic.canary import find_canaries, new_canary

    a, b, c = new_canary(), new_canary(), new_canary()
    text = f'{{"data":{{"k":"{needles(b)[1]}"}},"stringData":{{"k":"{a}"}}}} {new_canary()}'
    assert find_canaries(text, [a, b, c]) == {a, b}
    assert find_canaries("nothing here", [a]) == set()
