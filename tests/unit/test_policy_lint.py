"""Lint findings, corpus/random-policy invariants, explain, diff and the CLI."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.policy.checker import evaluate
from bench.policy.cli import app
from bench.policy.corpus import IDENTITIES, corpus, random_policy
from bench.policy.diff import diff
from bench.policy.lint import lint
from bench.policy.loader import load_policy, parse_policy
from bench.policy.request import parse_request, to_http

POLICIES = Path(__file__).parents[2] / "policies"
HEAD = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy"}


def _ids(policy_rules: list[dict], **extra) -> list[tuple[str, str, int | None]]:
    return [(f.rule_id, f.severity, f.rule_index) for f in lint(parse_policy({**HEAD, **extra, "rules": policy_rules}))]


def test_seed_production_has_no_errors_and_the_anti_pattern_has() -> None:
    seed = lint(load_policy(POLICIES / "seed-production.yaml"))
    assert not [f for f in seed if f.severity == "error"]
    anti = lint(load_policy(POLICIES / "seed-secrets-requestresponse.yaml"))
    secrets = [f for f in anti if f.rule_id == "AB001" and "secrets" in f.message]
    assert secrets and secrets[0].rule_index == 2 and "secrets" in (secrets[0].example or "")


def test_sensitive_levels() -> None:
    # serviceaccounts/token at Request logs only the TokenRequest spec: fine; at RequestResponse the token
    assert ("AB001", "error", 0) not in _ids([{"level": "Request", "resources": [{"group": "", "resources": ["serviceaccounts/token"]}]}])
    assert ("AB001", "error", 0) in _ids([{"level": "RequestResponse", "resources": [{"group": "", "resources": ["serviceaccounts/*"]}]}])
    assert ("AB009", "warning", 0) in _ids([{"level": "Request", "resources": [{"group": "authentication.k8s.io"}]}])
    # only reachable rules count: secrets are caught at Metadata first
    found = _ids([{"level": "Metadata", "resources": [{"group": "", "resources": ["secrets", "configmaps"]}]},
                  {"level": "Request", "omitStages": ["RequestReceived"]}])
    assert not [x for x in found if x[0] == "AB001"]
    # resourceNames cannot protect creates (no name in the URL): still reachable at Request
    found = _ids([{"level": "Metadata", "resources": [{"group": "", "resources": ["secrets"], "resourceNames": ["db"]}]},
                  {"level": "Request"}])
    assert ("AB001", "error", 1) in found


def test_gke_production_policy_has_no_false_ab001() -> None:
    # GKE logs the namespace controller's deletecollection at Request: DeleteOptions only.
    from tests.fixtures.policy.gke_policy import GKE_POLICY, NAMESPACE_CONTROLLER_RULE

    findings = lint(parse_policy(GKE_POLICY, "gke"))
    assert not [f.line() for f in findings if f.severity == "error"]
    assert not [f for f in findings if f.rule_index == NAMESPACE_CONTROLLER_RULE and f.rule_id in ("AB001", "AB005")]


def test_ab001_follows_which_verb_carries_which_body() -> None:
    def ab001(level: str, verbs: list[str]) -> list[str]:
        rules = [{"level": level, "verbs": verbs, "resources": [{"group": "", "resources": ["secrets"]}]}, {"level": "None"}]
        return [f.message for f in lint(parse_policy({**HEAD, "rules": rules})) if f.rule_id == "AB001"]

    # At Request only create/update/patch bodies hold the data.
    assert ab001("Request", ["delete", "deletecollection", "get", "list", "watch"]) == []
    for verb in ("create", "update", "patch"):
        assert ab001("Request", [verb]), verb
    (msg,) = ab001("Request", ["create", "delete", "get"])
    assert "request bodies of create hold the secret data" in msg
    assert "delete: send only DeleteOptions" in msg and "get: send no body" in msg
    # At RequestResponse every response holds it but a watch's (its stream is not logged).
    assert ab001("RequestResponse", ["watch"]) == []
    for verb in ("get", "list", "delete", "deletecollection", "create", "update", "patch"):
        assert ab001("RequestResponse", [verb]), verb
    (msg,) = ab001("RequestResponse", ["deletecollection", "watch"])
    assert "response bodies of deletecollection" in msg and "watch: a watch stream is not logged" in msg


def test_cli_lint_gke_policy_exits_0(tmp_path: Path) -> None:
    import yaml

    from tests.fixtures.policy.gke_policy import GKE_POLICY

    path = tmp_path / "gke.yaml"
    path.write_text(yaml.safe_dump(GKE_POLICY))
    result = runner.invoke(app, ["lint", str(path)])
    assert result.exit_code == 0, result.output
    assert "0 error(s)" in result.output


def test_shadowed_rules() -> None:
    rules = [
        {"level": "None", "userGroups": ["system:authenticated", "system:unauthenticated"], "verbs": ["get", "list", "watch"]},
        {"level": "Metadata", "verbs": ["get"], "resources": [{"group": "", "resources": ["pods"]}]},  # shadowed
        {"level": "Metadata", "verbs": ["create"], "resources": [{"group": "", "resources": ["pods"]}]},  # reachable
        {"level": "Metadata", "nonResourceURLs": ["/healthz*"], "omitStages": ["RequestReceived"]},
        {"level": "Metadata", "nonResourceURLs": ["/healthz/etcd"], "omitStages": ["RequestReceived"]},  # shadowed by prefix
        {"level": "Request", "verbs": ["create"], "resources": [{"group": "", "resources": ["secrets"], "resourceNames": ["x"]}]},  # no real request
    ]
    found = _ids(rules, omitStages=["RequestReceived"])
    shadowed = sorted(i for rid, _, i in found if rid == "AB002")
    assert shadowed == [1, 4, 5]


def test_shadowing_is_exact_about_prefixes_and_groups() -> None:
    rules = [
        {"level": "None", "nonResourceURLs": ["/healthz", "/healthzfoo*"]},
        {"level": "Metadata", "nonResourceURLs": ["/healthz*"]},  # /healthz/etcd still reaches it
        {"level": "None", "userGroups": ["developers"]},
        {"level": "Metadata", "userGroups": ["developers", "qa"]},  # a qa-only user reaches it
    ]
    assert not [x for x in _ids(rules, omitStages=["RequestReceived"]) if x[0] == "AB002"]


def test_other_findings() -> None:
    found = _ids([{"level": "Metadata", "verbs": ["GET"]}])  # verbs are lowercase: matches nothing real
    assert sorted(found) == [("AB002", "warning", 0), ("AB003", "info", None), ("AB007", "warning", 0)]
    found = _ids([{"level": "Metadata", "verbs": ["get"]}])
    assert ("AB004", "warning", 0) in found and ("AB003", "info", None) in found
    found = _ids([{"level": "RequestResponse", "resources": [{"group": "apps", "resources": ["deployments"]}]}])
    assert ("AB005", "warning", 0) in found
    lenient = parse_policy({**HEAD, "rules": [{"level": "None", "resources": [{"group": "", "verbs": ["get"]}]}]})
    assert [f.rule_id for f in lint(lenient)][:1] == ["AB006"]


def test_corpus_is_deterministic_and_round_trips_through_http() -> None:
    requests = corpus()
    assert requests == corpus() and corpus(7) == corpus(7) and corpus(7) != corpus(8)
    assert {a.user for a in requests} == set(IDENTITIES)
    assert all("system:authenticated" in a.groups for a in requests)
    for attrs in corpus(1):
        http = to_http(attrs)
        back = parse_request(attrs.user, attrs.groups, http.method, http.uri())
        # resource requests: the path is not a policy input (and /watch/ or /proxy/ forms differ)
        assert replace(back, path=attrs.path) == attrs, (attrs, http)
    verbs = {a.verb for a in requests}
    assert {"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "proxy", "head", "post"} <= verbs
    assert any(a.verb == "list" and a.name for a in requests)  # name from a field selector
    assert any(a.resource == "namespaces" and a.namespace == a.name != "" for a in requests)


def test_random_policies_are_valid_and_use_every_feature() -> None:
    rng = random.Random(42)
    seen: set[str] = set()
    for _ in range(300):
        doc = random_policy(rng)
        parse_policy(doc)
        for rule in doc["rules"]:
            seen |= set(rule)
            for gr in rule.get("resources", []):
                seen |= {"resourceNames"} & set(gr)
                for form in gr.get("resources", []):
                    seen.add("form:" + ("*" if form == "*" else "*/sub" if form.startswith("*/") else "res/*" if form.endswith("/*") else "res/sub" if "/" in form else "res"))
            for url in rule.get("nonResourceURLs", []):
                seen.add("url:" + ("*" if url == "*" else "prefix" if url.endswith("*") else "exact"))
    assert {"users", "userGroups", "verbs", "namespaces", "resources", "resourceNames", "nonResourceURLs",
            "omitStages", "omitManagedFields", "form:*", "form:*/sub", "form:res/*", "form:res/sub", "form:res",
            "url:*", "url:prefix", "url:exact"} <= seen


def test_diff_lists_what_the_none_rules_save() -> None:
    rows = diff(load_policy(POLICIES / "seed-production.yaml"), load_policy(POLICIES / "seed-no-none-rules.yaml"))
    classes = {r.request_class for r in rows}
    assert "GET /healthz" in classes and "list endpoints in production" in classes
    assert all(r.level_a == "None" and r.level_b == "Metadata" for r in rows)
    assert diff(load_policy(POLICIES / "none.yaml"), load_policy(POLICIES / "none.yaml")) == []


runner = CliRunner()


def test_cli_lint_exit_codes_and_json() -> None:
    ok = runner.invoke(app, ["lint", str(POLICIES / "seed-production.yaml"), "--format", "json"])
    assert ok.exit_code == 0, ok.output
    doc = json.loads(ok.output)
    assert doc["counts"]["error"] == 0 and doc["files"][0]["findings"]
    bad = runner.invoke(app, ["lint", str(POLICIES / "seed-secrets-requestresponse.yaml")])
    assert bad.exit_code == 1 and "AB001" in bad.output


def test_cli_explain_json() -> None:
    result = runner.invoke(app, ["explain", str(POLICIES / "seed-production.yaml"), "--user", "bob", "--group", "developers",
                                 "--verb", "create", "--namespace", "production", "--resource", "pods/exec", "--name", "web-1",
                                 "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert (doc["rule_index"], doc["level"]) == (4, "RequestResponse")
    assert doc["stages"] == ["RequestReceived", "ResponseStarted", "ResponseComplete"]


def test_cli_diff_json() -> None:
    result = runner.invoke(app, ["diff", str(POLICIES / "metadata-all.yaml"), str(POLICIES / "seed-with-requestreceived.yaml"), "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["differences"]
    assert any(r["request_class"] == "get secrets db-password in production" and r["stages_b"] == ["RequestReceived", "ResponseComplete"] for r in rows)


@pytest.mark.parametrize("path", sorted(POLICIES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_policy_evaluates_the_corpus(path: Path) -> None:
    policy = load_policy(path)
    levels = {evaluate(policy, a).level for a in corpus()}
    assert levels <= {"None", "Metadata", "Request", "RequestResponse"}
