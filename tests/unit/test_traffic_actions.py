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
    classes = classes or {name: 1.0 for name, c in CLASSES.items() if not c.scheduled}
    profile = Profile.model_validate({"description": "t", "classes": classes, "pool_size": 3,
                                      "objects": {"count": 1200, "size_kb": 2}})
    canary_path = tmp_path / "canaries.txt"
    layout = Layout("ab-abc123", bulk_count=1200, bulk_size_kb=2)
    actor = Actor(profile, layout, "p0u1", random.Random(seed), CanaryFile(canary_path),
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
    page = b'{"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"7"},"items":[]}'
    for cls in [n for n, c in CLASSES.items() if not c.scheduled]:
        reqs = _run(actor, cls, 200, page) if cls.startswith("bulk.") else _run(actor, cls, 201, lease)
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


# --- the growth collection (bulk.*) -------------------------------------------------------
_PAGE = ('{"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"%s"%s},'
         '"items":[{"metadata":{"name":"bulk-000000","resourceVersion":"3"}}]}')


def _page(rv: str, cont: str | None = None) -> bytes:
    extra = f',"continue":"{cont}","remainingItemCount":700' if cont else ""
    return (_PAGE % (rv, extra)).encode()


def test_list_head_reads_the_metadata_not_an_items_resource_version() -> None:
    from bench.traffic.actions import list_head

    assert list_head(_page("42", "eyJ2Ijoi")) == ("42", "eyJ2Ijoi")
    assert list_head(_page("42")) == ("42", None)
    assert list_head(b'{"kind":"Status","code":500}') == (None, None)
    assert list_head(None) == (None, None)


def test_paged_list_follows_continue_tokens_and_the_watch_starts_at_its_version(tmp_path: Path) -> None:
    actor, _ = _actor(tmp_path, {"bulk.listpaged": 1, "bulk.watch": 1})
    answers = iter([_page("90", "tok+/1"), _page("90", "tok2"), _page("90")])
    sent = []
    for req in actor.plan("bulk.listpaged"):
        sent.append(req)
        req.after(200, next(answers))
    assert [r.cls for r in sent] == ["bulk.listpaged"] * 3
    assert sent[0].path.endswith("/namespaces/ab-abc123-bulk/configmaps?limit=500")
    assert "continue=tok%2B%2F1" in sent[1].path and "continue=tok2" in sent[2].path
    (watch,) = _run(actor, "bulk.watch", 200)
    assert watch.stream and "resourceVersion=90" in watch.path and "watch=true" in watch.path
    # 410 Gone: the version left the watch cache, so the next watch lists first
    _run(actor, "bulk.watch", 410)
    again = []
    for req in actor.plan("bulk.watch"):
        again.append(req)
        req.after(200, _page("95") if req.cls == "bulk.listpaged" else None)
    assert [r.cls for r in again] == ["bulk.listpaged", "bulk.watch"] and "resourceVersion=95" in again[1].path


def test_paging_stops_on_an_error_and_at_its_bound(tmp_path: Path) -> None:
    actor, _ = _actor(tmp_path, {"bulk.listpaged": 1})
    assert len(_run(actor, "bulk.listpaged", 500, b"{}")) == 1
    endless = []
    for req in actor.plan("bulk.listpaged"):  # a server that always says "more"
        endless.append(req)
        req.after(200, _page("1", "again"))
    assert len(endless) == 1200 // 500 + 2


def test_unpaged_list_has_no_limit_and_update_keeps_the_size(tmp_path: Path) -> None:
    actor, canaries = _actor(tmp_path, {"bulk.list": 1, "bulk.update": 1, "bulk.get": 1})
    (lst,) = _run(actor, "bulk.list", 200)
    assert lst.path.endswith("/configmaps") and "limit" not in lst.path
    (upd,) = _run(actor, "bulk.update", 200)
    assert upd.method == "PUT" and len(upd.body["data"]["payload"]) == 2048
    assert upd.path.rsplit("/", 1)[1] == upd.body["metadata"]["name"]
    assert not read_canaries(canaries), "bulk filler is not a secret: no canaries"
    (get,) = _run(actor, "bulk.get", 200)
    assert re.search(r"/configmaps/bulk-\d{6}$", get.path)


def test_a_profile_with_bulk_classes_needs_a_collection_and_a_sane_one() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="need objects"):
        Profile.model_validate({"description": "t", "classes": {"bulk.list": 1}})
    with pytest.raises(ValidationError, match="more than the 1024 MiB"):
        Profile.model_validate({"description": "t", "classes": {"bulk.list": 1},
                                "objects": {"count": 20000, "size_kb": 900}})
    with pytest.raises(ValidationError, match="namespaces does not apply"):
        Profile.model_validate({"description": "t", "objects": {"count": 1, "size_kb": 1},
                                "classes": {"bulk.get": {"weight": 1, "namespaces": ["production"]}}})
