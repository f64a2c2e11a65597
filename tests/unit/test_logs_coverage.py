"""Coverage (which detections a policy still lets you run) and `policy suggest`, on captures from
the real local control plane (tests/fixtures/logs/make_*_fixtures.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from bench.detections import load_detections, parse_detections
from bench.logs import coverage, reader, records, suggest, whatif
from bench.policy.lint import lint
from bench.policy.loader import load_policy, parse_policy, parse_policy_text

ROOT = Path(__file__).resolve().parent.parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "logs"
POLICIES = ROOT / "policies"
CAPTURE = FIXTURES / "whatif-capture.log"
COVERAGE = FIXTURES / "coverage-capture.log"


def _events(path: Path) -> list[tuple[dict, int]]:
    return list(reader.iter_events(reader.expand([path])))


def _signature(ev: dict) -> tuple:
    """A request across two recordings of the same traffic (auditIDs and timestamps differ)."""
    return ev.get("verb"), ev.get("requestURI"), (ev.get("user") or {}).get("username")


def _coverage(policies: list, dets: list, capture: Path = CAPTURE) -> tuple[whatif.WhatIf, list[coverage.PolicyCoverage]]:
    collector = coverage.Collector(dets)
    result = whatif.predict(_events(capture), policies, observe=collector.observe)
    return result, coverage.coverage(collector.finish(), dets, policies)


REAL_LOGS = {  # (capture, log the apiserver wrote for the same traffic, policy it wrote it under)
    "whatif/seed-production": (CAPTURE, FIXTURES / "whatif-seed-production.log", POLICIES / "seed-production.yaml"),
    "whatif/mixed": (CAPTURE, FIXTURES / "whatif-mixed.log", FIXTURES / "whatif-mixed-policy.yaml"),
    "coverage/seed-production": (COVERAGE, FIXTURES / "coverage-seed-production.log", POLICIES / "seed-production.yaml"),
    "coverage/metadata-all": (COVERAGE, FIXTURES / "coverage-metadata-all.log", POLICIES / "metadata-all.yaml"),
}


@pytest.mark.parametrize("name", sorted(REAL_LOGS))
def test_kept_requests_are_what_the_detections_find_in_the_real_log(name: str) -> None:
    # Running the detections on what the apiserver really wrote under a policy must find exactly
    # the requests coverage (from the capture) says that policy keeps.
    capture, real_log, policy_file = REAL_LOGS[name]
    dets = load_detections("article")
    collector = coverage.Collector(dets)
    whatif.predict(_events(capture), [load_policy(policy_file)], observe=collector.observe)
    found = collector.finish()
    verdicts = coverage.judge(found, dets, 0)
    actual = [ev for ev, _ in _events(real_log)]
    for di, det in enumerate(dets):
        kept = {_signature(f.event) for f, v in zip(found, verdicts) if f.detection == di and v.kept}
        real = {_signature(ev) for ev in actual if det.matches(ev)}
        assert kept == real, det.name
    assert any(f.detection == 1 for f in found)  # the cluster-admin binding is in there


def test_shipped_policies_against_the_article_detections() -> None:
    names = ["seed-production", "seed-no-none-rules", "seed-with-requestreceived", "seed-secrets-requestresponse",
             "minimal-security", "metadata-all", "request-all", "requestresponse-all", "none"]
    policies = [load_policy(POLICIES / f"{n}.yaml") for n in names]
    result, covs = _coverage(policies, load_detections("article"), COVERAGE)
    assert result.capture_problems == {}
    by = {n: {d.name: d for d in c.detections} for n, c in zip(names, covs)}
    found = {d: (by["none"][d].found_requests, by["none"][d].found_events) for d in by["none"]}
    # bob's two secret reads, alice's cluster-admin binding, bob's two execs in production (with
    # all their stages); not the service account's read, the view binding, exec in staging, attach
    assert found == {"secrets-read-by-non-serviceaccount": (2, 4), "clusterrolebinding-to-cluster-admin": (1, 1),
                     "exec-in-production": (2, 6)}
    for n in ("seed-production", "seed-no-none-rules", "seed-with-requestreceived", "seed-secrets-requestresponse",
              "minimal-security", "request-all", "requestresponse-all"):
        assert all(d.complete for d in by[n].values()), n
    crb = by["metadata-all"]["clusterrolebinding-to-cluster-admin"]
    assert (crb.kept_requests, crb.found_requests) == (0, 1)
    assert crb.missed[0].reason == "requestObject.roleRef.name not logged at Metadata (rules[0])"
    assert crb.missed[0].examples[0]["user"] == "alice" and crb.missed[0].examples[0]["verb"] == "create"
    assert by["metadata-all"]["secrets-read-by-non-serviceaccount"].complete
    assert by["metadata-all"]["exec-in-production"].complete
    for d in by["none"].values():
        assert d.kept_requests == 0
        assert all(g.reason == "not logged (rules[0]: level None)" for g in d.missed)
    # the article's policy keeps one event per secret read (its secrets rule keeps RequestReceived too)
    assert by["seed-production"]["secrets-read-by-non-serviceaccount"].kept_events == 4
    assert by["minimal-security"]["secrets-read-by-non-serviceaccount"].kept_events == 2


def test_a_request_is_kept_by_any_of_its_events_and_stages_matter() -> None:
    dets = load_detections("article") + parse_detections({"version": 1, "detections": [{
        "name": "completed-secret-reads", "title": "t", "stages": ["ResponseComplete"],
        "match": [{"field": "objectRef.resource", "equals": "secrets"}, {"field": "verb", "equals": "get"}]}]})
    only_received = parse_policy_text("apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [ResponseComplete]\n"
                                      "rules:\n- level: Metadata\n")
    _, (cov,) = _coverage([only_received], dets)
    by = {d.name: d for d in cov.detections}
    secrets = by["secrets-read-by-non-serviceaccount"]
    assert (secrets.found_events, secrets.kept_events, secrets.kept_requests) == (2, 1, 1)  # RequestReceived keeps it
    completed = by["completed-secret-reads"]
    assert completed.kept_requests == 0 and completed.missed[0].reason == "ResponseComplete omitted (rules[0])"


def test_managed_fields_read_by_a_detection_are_lost_under_omit_managed_fields() -> None:
    (det,) = parse_detections({"version": 1, "detections": [{
        "name": "who-manages-configmaps", "title": "t",
        "match": [{"field": "objectRef.resource", "equals": "configmaps"},
                  {"field": "responseObject.metadata.managedFields", "exists": True}]}]})
    keep = parse_policy_text("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: RequestResponse\n")
    trim = parse_policy_text("apiVersion: audit.k8s.io/v1\nkind: Policy\nomitManagedFields: true\n"
                             "rules:\n- level: RequestResponse\n")
    _, (a, b) = _coverage([keep, trim], [det])
    assert a.complete and a.detections[0].found_requests > 0
    assert b.detections[0].kept_requests == 0
    assert "responseObject.metadata.managedFields not logged at RequestResponse" in b.detections[0].missed[0].reason


@pytest.mark.parametrize("name", ["seed-production", "metadata-all", "minimal-security", "requestresponse-all", "none"])
def test_records_replay_equals_whatif(name: str) -> None:
    dets = load_detections("article")
    rec = records.build(_events(CAPTURE), dets)
    policy = load_policy(POLICIES / f"{name}.yaml")
    result, (cov,) = _coverage([policy], dets)
    pred = result.predictions[0]
    assert rec.cost(policy) == (pred.events, pred.bytes)
    assert rec.capture_requests == result.capture_requests and rec.capture_bytes == result.capture_bytes
    assert rec.coverage(policy).to_json()["detections"] == cov.to_json()["detections"]


def test_never_selected_decides_on_what_a_rule_fixes() -> None:
    dets = load_detections("article")
    # a human's secret read could be any get of secrets: never None, whatever the capture holds
    assert not suggest.never_selected(dets, "get", "", "secrets")
    assert suggest.never_selected(dets, "list", "", "secrets")
    assert suggest.never_selected(dets, "get", "", "endpoints")
    assert not suggest.never_selected(dets, "create", "", "pods", "exec")
    assert suggest.never_selected(dets, "get", "", "pods", "log")
    assert suggest.never_selected(dets, "get", resource_request=False)
    sql = parse_detections({"version": 1, "detections": [{
        "name": "probes", "title": "t", "reads": ["requestURI", "objectRef.resource"],
        "where": "\"objectRef.resource\" IS NULL AND starts_with(\"requestURI\", '/healthz')"}]})
    assert not suggest.never_selected(sql, "get", resource_request=False)  # /healthz could be it
    assert suggest.never_selected(sql, "get", "", "pods")


def _suggest(base: str, dets=None, capture: Path = COVERAGE, min_saving: float = 0.01) -> tuple:
    dets = dets or load_detections("article")
    rec = records.build(_events(capture), dets)
    result = suggest.search(rec, load_policy(POLICIES / f"{base}.yaml"), min_saving=min_saving)
    proof = suggest.prove(_events(capture), result, dets)
    return result, proof


def _errors(policy) -> list[str]:
    return [f.line() for f in lint(policy) if f.severity == "error" or f.rule_id == "AB002"]


def test_suggest_from_the_article_policy_keeps_every_detection(tmp_path: Path) -> None:
    result, proof = _suggest("seed-production")
    assert proof.keeps_every_detection and proof.matches_search
    assert [d.kept_requests for d in proof.coverage[1].detections] == [2, 1, 2]
    assert result.cost[1] < 0.6 * result.base_cost[1]
    assert sum(s.saving_bytes for s in result.steps) == result.base_cost[1] - result.cost[1]
    assert result.steps[0].edit.omit_stage == "RequestReceived"  # the biggest saving here
    for rule in result.policy.rules[: len(result.policy.rules) - len(result.base.rules)]:
        assert rule.level == "None"
        assert set(rule.verbs) <= {"get", "list", "watch"} or rule.non_resource_urls  # never a write
        assert not any(gr.group == "" and set(gr.resources) & {"secrets", "configmaps", "serviceaccounts"}
                       for gr in rule.resources)
    # the written file is a valid policy whose replay is the search's answer
    path = tmp_path / "suggested.yaml"
    path.write_text(suggest.policy_yaml(result, str(COVERAGE), "article"))
    again = load_policy(path)
    assert records.build(_events(COVERAGE), load_detections("article")).cost(again) == result.cost
    assert _errors(again) == []


def test_suggest_lowers_levels_only_where_no_detection_needs_the_body() -> None:
    result, proof = _suggest("requestresponse-all")
    assert proof.keeps_every_detection and proof.matches_search
    applied = [s.edit.summary for s in result.steps]
    assert applied[0].startswith("secrets and configmaps under rules[0] (RequestResponse) to Metadata")
    assert "rules[0] (RequestResponse) to Request" in applied
    rejected = {r.edit.summary: r for r in result.rejected}
    to_meta = rejected["rules[0] (RequestResponse) to Metadata"]
    assert [(x["detection"], x["requests"]) for x in to_meta.lost] == [("clusterrolebinding-to-cluster-admin", 1)]
    assert to_meta.lost[0]["reason"].startswith("requestObject.roleRef.name not logged at Metadata")
    narrowed = [s.edit for s in result.steps if s.edit.kind == "lower-class"]
    assert narrowed and all(len(e.before[1].resources) == 1 and e.before[1].verbs for e in narrowed)
    assert _errors(result.policy) == []  # no secret values left in the log, no rule shadowed


def test_suggest_fixes_the_secrets_anti_pattern_by_lowering_its_rule() -> None:
    result, proof = _suggest("seed-secrets-requestresponse")
    assert proof.keeps_every_detection
    assert result.steps[0].edit.kind == "lint" and result.steps[0].edit.lower == (2, "Metadata")
    assert _errors(result.policy) == []


def test_suggest_keeps_what_the_base_keeps_when_the_base_already_misses() -> None:
    result, proof = _suggest("metadata-all")
    assert proof.keeps_every_detection  # nothing the base finds is lost...
    crb = {d.name: d for d in proof.coverage[0].detections}["clusterrolebinding-to-cluster-admin"]
    assert crb.kept_requests == 0  # ...and what it never found is not claimed


def test_draft_narrowing_changes_only_its_class() -> None:
    base = parse_policy({"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [
        {"level": "RequestResponse", "users": ["alice"], "namespaces": ["prod"],
         "resources": [{"group": "", "resources": ["pods", "configmaps"]}]},
        {"level": "Metadata"}]})
    narrow = suggest._narrowed(base.rules[0], "", "pods", "", "get", "Metadata")
    assert narrow is not None and narrow.users == ("alice",) and narrow.namespaces == ("prod",)
    draft = suggest.Draft(base, [suggest.Edit("lower-class", "x", before=(0, narrow))])
    policy, origin = draft.build()
    assert origin == [0, 0, 1] and policy.rules[0] == narrow and policy.rules[1] == base.rules[0]
    from bench.policy.corpus import corpus
    from bench.policy.checker import evaluate

    for attrs in corpus():
        a, b = evaluate(base, attrs), evaluate(policy, attrs)
        inside = attrs.user == "alice" and attrs.namespace == "prod" and attrs.resource == "pods" \
            and not attrs.subresource and attrs.verb == "get" and attrs.api_group == ""
        assert (a.level, a.omit_stages) == (b.level, b.omit_stages) or (inside and b.level == "Metadata"), attrs


def test_cli_suggest_writes_lints_and_proves(tmp_path: Path, capsys, monkeypatch) -> None:
    from tests.unit.test_detections import run_main

    out = tmp_path / "s.yaml"
    rc, stdout, _ = run_main(["policy", "suggest", str(COVERAGE), "--policy", str(POLICIES / "seed-production.yaml"),
                              "--detections", "article", "--rate", "100", "--out", str(out), "--format", "json"],
                             capsys, monkeypatch)
    assert rc == 0
    doc = json.loads(stdout)
    assert doc["proof"]["keeps_every_detection"] and doc["proof"]["matches_search"]
    assert doc["suggested"]["bytes"] < doc["base"]["bytes"]
    assert doc["edits"][0]["saving_bytes_per_day"] == pytest.approx(
        doc["edits"][0]["saving_bytes"] / doc["capture"]["requests"] * 100 * 86400)
    assert any("AB009" in line for line in doc["lint"])  # inherited from the article's tokenreviews rule
    assert yaml.safe_load(out.read_text())["kind"] == "Policy"
    rc, text, _ = run_main(["policy", "suggest", str(CAPTURE), "--policy", str(POLICIES / "seed-production.yaml"),
                            "--out", str(out)], capsys, monkeypatch)
    assert rc == 0 and "proof:" in text and "omitStages RequestReceived" in text


def test_cli_whatif_json_has_coverage_and_bytes_per_day(capsys, monkeypatch) -> None:
    from tests.unit.test_detections import run_main

    rc, stdout, _ = run_main(["whatif", str(CAPTURE), "--policy", str(POLICIES / "metadata-all.yaml"),
                              "--detections", "article", "--rate", "50", "--format", "json"], capsys, monkeypatch)
    assert rc == 0
    doc = json.loads(stdout)
    pred = doc["predictions"][0]
    assert pred["bytes_per_day"] == pytest.approx(pred["bytes"] / doc["capture"]["requests"] * 50 * 86400)
    (cov,) = doc["coverage"]
    assert not cov["complete"]
    missed = {d["name"]: d["missed"] for d in cov["detections"]}["clusterrolebinding-to-cluster-admin"]
    assert missed["requests"] == 1 and missed["by_reason"][0]["examples"][0]["resource"] == "clusterrolebindings"
