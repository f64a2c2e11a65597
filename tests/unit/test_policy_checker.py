"""The evaluator against upstream checker_test.go vectors and the apiserver's matching rules."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bench.policy.checker import Decision, RequestAttributes, evaluate, first_mismatch, stages_for
from bench.policy.loader import parse_policy
from bench.policy.request import is_long_running, parse_request

FIXTURE = yaml.safe_load(
    (Path(__file__).parents[1] / "fixtures" / "policy" / "upstream_checker_cases.yaml").read_text()
)


def _attrs(spec: dict) -> RequestAttributes:
    spec = dict(spec)
    spec["groups"] = tuple(spec.get("groups") or ())
    return RequestAttributes(**spec)


def _policy(rules: list[dict], omit_stages: list[str] | None = None, omf: bool = False):
    doc = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": rules}
    if omit_stages:
        doc["omitStages"] = omit_stages
    if omf:
        doc["omitManagedFields"] = True
    return parse_policy(doc)


@pytest.mark.parametrize(
    "case",
    FIXTURE["cases"],
    ids=[f"{c['from']}:{c['request']}:{'+'.join(c['rules'])}:{len(c['policyOmitStages'])}" for c in FIXTURE["cases"]],
)
def test_upstream_checker_case(case: dict) -> None:
    policy = _policy([FIXTURE["rules"][name] for name in case["rules"]], case["policyOmitStages"])
    decision = evaluate(policy, _attrs(FIXTURE["attributes"][case["request"]]))
    assert decision.level == case["level"]
    assert decision.omit_stages == frozenset(case["expectOmitStages"])


@pytest.mark.parametrize("case", FIXTURE["unionStages"])
def test_upstream_union_stages(case: dict) -> None:
    policy = _policy([{"level": "Metadata", "omitStages": case["rule"]}], case["policy"])
    any_request = RequestAttributes("u", (), "get", path="/x", is_resource_request=False)
    assert evaluate(policy, any_request).omit_stages == frozenset(case["expect"])


@pytest.mark.parametrize("case", FIXTURE["omitManagedFields"]["cases"], ids=lambda c: c["name"])
def test_upstream_omit_managed_fields(case: dict) -> None:
    rule = dict(FIXTURE["omitManagedFields"]["rule"])
    if case["rule"] is not None:
        rule["omitManagedFields"] = case["rule"]
    policy = _policy([rule], omf=case["policy"])
    decision = evaluate(policy, _attrs(FIXTURE["omitManagedFields"]["attributes"]))
    assert decision.rule_index == 0
    assert decision.omit_managed_fields is case["want"]


ALICE = ("alice", ("platform-admins", "system:authenticated"))


def _req(method: str, uri: str, who: tuple[str, tuple[str, ...]] = ALICE) -> RequestAttributes:
    return parse_request(who[0], who[1], method, uri)


def _level(rules: list[dict], req: RequestAttributes) -> tuple[int | None, str]:
    d = evaluate(_policy(rules), req)
    return d.rule_index, d.level


@pytest.mark.parametrize(
    "resources, method, uri, matches",
    [
        # "res/*" matches the resource itself too (checker.go compares only the resource part)
        (["pods/*"], "GET", "/api/v1/namespaces/a/pods/p", True),
        (["pods/*"], "POST", "/api/v1/namespaces/a/pods/p/exec", True),
        (["pods"], "POST", "/api/v1/namespaces/a/pods/p/exec", False),
        (["*/exec"], "POST", "/api/v1/namespaces/a/pods/p/exec", True),
        (["*/exec"], "GET", "/api/v1/namespaces/a/pods/p", False),
        (["*"], "GET", "/api/v1/namespaces/a/pods/p/log", True),
        (["pods/log"], "GET", "/api/v1/namespaces/a/pods/p/log", True),
        (["pods/exec"], "GET", "/api/v1/namespaces/a/pods/p/log", False),
        (["namespaces"], "PUT", "/api/v1/namespaces/a/finalize", False),
        (["namespaces/finalize"], "PUT", "/api/v1/namespaces/a/finalize", True),
    ],
)
def test_resource_forms(resources: list[str], method: str, uri: str, matches: bool) -> None:
    rules = [{"level": "Request", "resources": [{"group": "", "resources": resources}]}]
    assert _level(rules, _req(method, uri)) == ((0, "Request") if matches else (None, "None"))


def test_group_match_and_whole_group() -> None:
    rules = [
        {"level": "Request", "resources": [{"group": "apps"}]},
        {"level": "Metadata", "resources": [{"group": "*", "resources": ["leases"]}]},
    ]
    assert _level(rules, _req("PATCH", "/apis/apps/v1/namespaces/a/deployments/d/scale")) == (0, "Request")
    assert _level(rules, _req("GET", "/apis/coordination.k8s.io/v1/namespaces/a/leases/l")) == (1, "Metadata")
    assert _level(rules, _req("GET", "/api/v1/namespaces/a/pods")) == (None, "None")


def test_resource_names_apply_per_group_entry_and_to_list_by_field_selector() -> None:
    rules = [{"level": "Request", "resources": [{"group": "", "resources": ["secrets"], "resourceNames": ["db"]}]}]
    assert _level(rules, _req("GET", "/api/v1/namespaces/a/secrets/db")) == (0, "Request")
    assert _level(rules, _req("GET", "/api/v1/namespaces/a/secrets/other")) == (None, "None")
    assert _level(rules, _req("GET", "/api/v1/namespaces/a/secrets")) == (None, "None")
    # RequestInfo takes the name from an exact metadata.name field selector on list/watch
    assert _level(rules, _req("GET", "/api/v1/namespaces/a/secrets?fieldSelector=metadata.name%3Ddb")) == (0, "Request")
    # a create carries no name in the URL, so resourceNames never match it
    assert _level(rules, _req("POST", "/api/v1/namespaces/a/secrets")) == (None, "None")


def test_namespaces_field() -> None:
    rules = [{"level": "Metadata", "namespaces": ["prod"]}, {"level": "Request", "namespaces": [""]}]
    assert _level(rules, _req("GET", "/api/v1/namespaces/prod/pods")) == (0, "Metadata")
    # the namespaces resource: a named namespace request carries its own name as namespace
    assert _level(rules, _req("GET", "/api/v1/namespaces/prod")) == (0, "Metadata")
    assert _level(rules, _req("POST", "/api/v1/namespaces")) == (1, "Request")
    assert _level(rules, _req("GET", "/api/v1/nodes/n")) == (1, "Request")
    # namespaces without resources still only match resource requests
    assert _level(rules, _req("GET", "/healthz")) == (None, "None")


def test_non_resource_urls() -> None:
    rules = [{"level": "Request", "nonResourceURLs": ["/healthz*", "/version"]}, {"level": "Metadata", "nonResourceURLs": ["*"]}]
    assert _level(rules, _req("GET", "/healthz")) == (0, "Request")
    assert _level(rules, _req("GET", "/healthz/etcd")) == (0, "Request")
    assert _level(rules, _req("GET", "/healthzfoo")) == (0, "Request")  # plain prefix, no "/" boundary
    assert _level(rules, _req("GET", "/version")) == (0, "Request")
    assert _level(rules, _req("GET", "/version/")) == (1, "Metadata")
    assert _level(rules, _req("GET", "/api/v1/pods")) == (None, "None")
    # /api and /apis/<group> are non-resource requests (fewer than 3 or 4 path parts)
    assert _level(rules, _req("GET", "/apis/apps")) == (1, "Metadata")


def test_users_and_groups() -> None:
    rules = [
        {"level": "Request", "users": ["bob"]},
        {"level": "Metadata", "userGroups": ["system:serviceaccounts", "developers"]},
    ]
    sa = ("system:serviceaccount:ci:deploy-bot", ("system:serviceaccounts", "system:serviceaccounts:ci", "system:authenticated"))
    assert _level(rules, _req("GET", "/api/v1/pods", ("bob", ("developers",)))) == (0, "Request")
    assert _level(rules, _req("GET", "/api/v1/pods", sa)) == (1, "Metadata")
    assert _level(rules, _req("GET", "/api/v1/pods")) == (None, "None")
    failed = RequestAttributes("", (), "get", resource="pods", path="/api/v1/pods", authenticated=False)
    assert _level([{"level": "Metadata", "users": [""]}], failed) == (None, "None")


def test_verbs_for_non_resource_are_lowercase_http_methods() -> None:
    rules = [{"level": "Request", "verbs": ["post"]}]
    assert _level(rules, _req("POST", "/healthz")) == (0, "Request")
    assert _level(rules, _req("POST", "/api/v1/namespaces/a/pods")) == (None, "None")  # that is "create"


@pytest.mark.parametrize(
    "method, uri, long_running",
    [
        ("GET", "/api/v1/namespaces/a/pods?watch=true", True),
        ("GET", "/api/v1/namespaces/a/pods?watch=false", False),
        ("GET", "/api/v1/namespaces/a/pods?watch=0", False),
        ("GET", "/api/v1/watch/namespaces/a/pods", True),
        ("POST", "/api/v1/namespaces/a/pods/p/exec", True),
        ("POST", "/api/v1/namespaces/a/pods/p/attach", True),
        ("POST", "/api/v1/namespaces/a/pods/p/portforward", True),
        ("GET", "/api/v1/namespaces/a/pods/p/log", True),
        ("GET", "/api/v1/namespaces/a/services/s/proxy/x", True),
        ("GET", "/api/v1/nodes/n/proxy", True),
        ("GET", "/api/v1/namespaces/a/pods/p/status", False),
        ("POST", "/api/v1/namespaces/a/serviceaccounts/s/token", False),
        ("GET", "/debug/pprof/", True),
        ("GET", "/healthz", False),
    ],
)
def test_long_running(method: str, uri: str, long_running: bool) -> None:
    assert is_long_running(_req(method, uri)) is long_running


def test_stages_for() -> None:
    d = Decision(0, "Metadata", frozenset(), False)
    assert stages_for(d, long_running=False) == ["RequestReceived", "ResponseComplete"]
    assert stages_for(d, long_running=True) == ["RequestReceived", "ResponseStarted", "ResponseComplete"]
    omit = Decision(0, "Metadata", frozenset({"RequestReceived"}), False)
    assert stages_for(omit, long_running=True) == ["ResponseStarted", "ResponseComplete"]
    assert stages_for(Decision(None, "None", frozenset(), False), long_running=True) == []
    assert stages_for(d, long_running=False, authenticated=False) == ["ResponseStarted"]


def test_first_mismatch_names_the_field() -> None:
    policy = _policy([{"level": "Request", "verbs": ["create"], "resources": [{"group": "", "resources": ["pods"]}]}])
    assert first_mismatch(policy.rules[0], _req("GET", "/api/v1/namespaces/a/pods/p")) == "verbs"
    assert first_mismatch(policy.rules[0], _req("POST", "/api/v1/namespaces/a/secrets")) == "resources"
    assert first_mismatch(policy.rules[0], _req("POST", "/api/v1/namespaces/a/pods")) is None


def test_evaluate_accepts_a_dict() -> None:
    doc = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": "Metadata"}]}
    assert evaluate(doc, _req("GET", "/healthz")).level == "Metadata"


def test_from_audit_event_uses_request_uri_not_filled_in_object_ref() -> None:
    event = {
        "verb": "create",
        "requestURI": "/api/v1/namespaces/production/secrets?fieldManager=kubectl",
        "user": {"username": "bob", "groups": ["developers", "system:authenticated"]},
        # objectRef.name is filled from the request body after the policy was evaluated
        "objectRef": {"resource": "secrets", "namespace": "production", "name": "db-password", "apiVersion": "v1"},
    }
    attrs = RequestAttributes.from_audit_event(event)
    assert (attrs.verb, attrs.namespace, attrs.resource, attrs.name) == ("create", "production", "secrets", "")
    assert attrs.groups == ("developers", "system:authenticated")
    health = RequestAttributes.from_audit_event({"verb": "get", "requestURI": "/healthz?verbose", "user": {"username": "admin"}})
    assert (health.is_resource_request, health.path) == (False, "/healthz")
    watch = RequestAttributes.from_audit_event(
        {"verb": "watch", "requestURI": "/api/v1/namespaces/a/pods?fieldSelector=metadata.name%3Dweb&watch=true", "user": {"username": "x"}, "objectRef": {"resource": "pods"}}
    )
    assert (watch.verb, watch.name) == ("watch", "web")
    failed = RequestAttributes.from_audit_event({"verb": "get", "requestURI": "/api/v1/pods", "user": {}, "objectRef": {"resource": "pods"}})
    assert failed.authenticated is False
