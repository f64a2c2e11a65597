"""What-if predictions against what the real apiserver wrote.

The whatif-*.log fixtures come from the real local control plane
(tests/fixtures/logs/make_whatif_fixtures.py): the same request sequence run once under a
RequestResponse-for-everything policy (the capture) and once under each candidate policy.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from bench.logs import gojson, reader, whatif
from bench.policy.loader import load_policy, parse_policy_text

ROOT = Path(__file__).resolve().parent.parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "logs"
CANDIDATES = {
    "seed-production": ROOT / "policies" / "seed-production.yaml",
    "mixed": FIXTURES / "whatif-mixed-policy.yaml",
}


def events(name: str) -> list[tuple[dict, int]]:
    return list(reader.iter_events(reader.expand([FIXTURES / f"whatif-{name}.log"])))


@pytest.mark.parametrize("name", sorted(CANDIDATES))
def test_prediction_matches_the_real_apiserver(name: str) -> None:
    actual = events(name)
    result = whatif.predict(events("capture"), [load_policy(CANDIDATES[name])])
    pred = result.predictions[0]
    assert result.capture_problems == {}
    assert pred.events == len(actual)
    assert pred.bytes == pytest.approx(sum(n for _, n in actual), rel=0.03)
    by_level = Counter(e["level"] for e, _ in actual)
    assert {k: v.events for k, v in pred.by_level.items()} == dict(by_level)
    by_stage = Counter(e["stage"] for e, _ in actual)
    assert {k: v.events for k, v in pred.by_stage.items()} == dict(by_stage)
    for level, counter in pred.by_level.items():
        real = sum(n for e, n in actual if e["level"] == level)
        assert counter.bytes == pytest.approx(real, rel=0.03), level


def test_every_policy_evaluated_in_one_pass_and_rules_add_up() -> None:
    metadata_all = parse_policy_text("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n")
    policies = [load_policy(p) for p in CANDIDATES.values()] + [metadata_all]
    result = whatif.predict(events("capture"), policies)
    assert [p.policy for p in result.predictions] == [p.source for p in policies]
    for pred in result.predictions:
        rules = pred.rules_json()
        assert sum(r["events"] for r in rules) == pred.events
        assert sum(r["bytes"] for r in rules) == pred.bytes
    # Metadata for everything keeps every request and every stage, without bodies.
    meta = result.predictions[2]
    assert meta.events == result.capture_events
    assert meta.requests_logged == result.capture_requests
    assert meta.bytes < result.capture_bytes


def test_capture_policy_predicts_the_capture_itself_byte_for_byte() -> None:
    # RequestResponse, no stage omitted: the prediction is the capture re-serialized,
    # which must reproduce the apiserver's bytes exactly (Go field order and escaping).
    capture = events("capture")
    policy = parse_policy_text("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: RequestResponse\n")
    pred = whatif.predict(capture, [policy]).predictions[0]
    assert (pred.events, pred.bytes) == (len(capture), sum(n for _, n in capture))


def test_go_dumps_reproduces_apiserver_lines() -> None:
    for name in ("capture", "seed-production", "mixed"):
        for line in (FIXTURES / f"whatif-{name}.log").read_text(encoding="utf-8").splitlines():
            assert gojson.go_dumps(json.loads(line)) == line
    assert gojson.go_dumps({"a": "<b> & é \u2028"}) == '{"a":"\\u003cb\\u003e \\u0026 é \\u2028"}'
    assert gojson.go_line_bytes({"a": "é"}) == len('{"a":"é"}'.encode()) + 1


def _event(**extra: object) -> dict:
    ev = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse", "auditID": "x",
          "stage": "ResponseComplete", "requestURI": "/api/v1/namespaces/a/pods", "verb": "create",
          "user": {"username": "alice"}, "objectRef": {"resource": "pods", "namespace": "a", "name": "p"},
          "responseStatus": {"metadata": {}, "code": 201}}
    ev.update(extra)
    return ev


POD = {"kind": "Pod", "metadata": {"name": "p", "managedFields": [{"manager": "kubectl"}]}, "spec": {}}


def test_relevel_drops_bodies_by_level_and_keeps_the_rest() -> None:
    ev = _event(requestObject=POD, responseObject=POD, requestReceivedTimestamp="t", stageTimestamp="t",
                annotations={"authorization.k8s.io/decision": "allow", "patch.webhook.admission.k8s.io/round_0_index_0": "{}"})
    meta = whatif.relevel(ev, "Metadata", False)
    assert "requestObject" not in meta and "responseObject" not in meta
    assert meta["responseStatus"] == ev["responseStatus"] and meta["objectRef"] == ev["objectRef"]
    assert meta["level"] == "Metadata"
    assert meta["annotations"] == {"authorization.k8s.io/decision": "allow"}
    assert list(meta) == [k for k in ev if k in meta]  # Go field order kept
    req = whatif.relevel(ev, "Request", False)
    assert req["requestObject"] == POD and "responseObject" not in req
    assert "patch.webhook.admission.k8s.io/round_0_index_0" in req["annotations"]
    assert whatif.relevel(ev, "RequestResponse", False) == ev
    only_patch = whatif.relevel(_event(annotations={"patch.webhook.admission.k8s.io/round_0_index_0": "{}"}), "Metadata", False)
    assert "annotations" not in only_patch  # an empty map is omitted


def test_omit_managed_fields_objects_lists_tables_not_patches() -> None:
    pod_list = {"kind": "PodList", "metadata": {"resourceVersion": "1"}, "items": [POD, POD]}
    table = {"kind": "Table", "rows": [{"cells": [], "object": POD}]}
    ev = _event(requestObject=POD, responseObject=pod_list)
    out = whatif.relevel(ev, "RequestResponse", True)
    assert "managedFields" not in out["requestObject"]["metadata"]
    assert all("managedFields" not in i["metadata"] for i in out["responseObject"]["items"])
    assert "managedFields" in POD["metadata"]  # the capture is not modified
    out = whatif.relevel(_event(responseObject=table), "RequestResponse", True)
    assert "managedFields" not in out["responseObject"]["rows"][0]["object"]["metadata"]
    patch = {"metadata": {"managedFields": [{"manager": "x"}]}}
    out = whatif.relevel(_event(verb="patch", requestObject=patch, responseObject=POD), "RequestResponse", True)
    assert out["requestObject"] == patch  # a patch is logged as sent
    assert "managedFields" not in out["responseObject"]["metadata"]


def test_capture_below_request_response_is_reported() -> None:
    capture = [(dict(e, level="Metadata"), n) for e, n in events("seed-production")]
    result = whatif.predict(capture, [load_policy(CANDIDATES["mixed"])])
    assert any("not RequestResponse" in k for k in result.capture_problems)


def test_cli_json(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from bench.logs import cli

    args = ["whatif", str(FIXTURES / "whatif-capture.log")]
    for p in CANDIDATES.values():
        args += ["--policy", str(p)]
    result = CliRunner().invoke(cli.app, args + ["--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert [p["events"] for p in doc["predictions"]] == [len(events(n)) for n in CANDIDATES]
    table = CliRunner().invoke(cli.app, args)
    assert table.exit_code == 0 and "by rule" in table.output
    missing = CliRunner().invoke(cli.app, ["whatif", str(FIXTURES / "whatif-capture.log")])
    assert missing.exit_code != 0
