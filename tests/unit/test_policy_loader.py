"""The loader accepts and rejects what kube-apiserver v1.37's reader.go does."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.errors import InputError
from bench.policy.loader import load_policy, parse_policy_text

POLICIES = sorted((Path(__file__).parents[2] / "policies").glob("*.yaml"))
HEAD = "apiVersion: audit.k8s.io/v1\nkind: Policy\n"


@pytest.mark.parametrize("path", POLICIES, ids=lambda p: p.name)
def test_shipped_policies_load_cleanly(path: Path) -> None:
    policy = load_policy(path)
    assert policy.rules and policy.warnings == ()


def test_upstream_parser_example() -> None:
    # reader_test.go policyDefPattern
    text = HEAD + """rules:
  - level: None
    nonResourceURLs:
      - /healthz*
      - /version
  - level: RequestResponse
    users: ["tim"]
    userGroups: ["testers", "developers"]
    verbs: ["patch", "delete", "create"]
    resources:
      - group: ""
      - group: "rbac.authorization.k8s.io"
        resources: ["clusterroles", "clusterrolebindings"]
    namespaces: ["default", "kube-system"]
  - level: Metadata
"""
    policy = parse_policy_text(text)
    assert len(policy.rules) == 3
    assert policy.rules[1].resources[0].group == "" and policy.rules[1].resources[0].resources == ()
    assert policy.rules[1].namespaces == ("default", "kube-system")


def test_unknown_field_falls_back_to_lenient_with_a_warning() -> None:
    # reader_test.go policyWithUnknownField: verbs mis-indented into the resources entry
    text = HEAD + """rules:
- level: None
  resources:
  - group: coordination.k8s.io
    resources:
    - "leases"
    verbs: ["watch", "get", "list"] # invalid indentation on verbs
"""
    policy = parse_policy_text(text, "p.yaml")
    assert policy.rules[0].verbs == ()  # ignored, so the rule matches every verb on leases
    assert len(policy.warnings) == 1 and 'rules[0].resources[0].verbs' in policy.warnings[0]


def test_field_names_are_case_sensitive_and_duplicates_warn() -> None:
    policy = parse_policy_text(HEAD + "rules:\n- level: None\n  Verbs: [get]\n- level: Metadata\n  level: Request\n")
    assert policy.rules[0].verbs == ()
    assert policy.rules[1].level == "Request"  # the later duplicate wins
    assert len(policy.warnings) == 2


@pytest.mark.parametrize(
    "text, field, reason",
    [
        ("rules:\n- level: None\n", "apiVersion", "missing"),  # TestParsePolicyWithNoVersionOrKind
        ("kind: Policy\nrules:\n- level: None\n", "apiVersion", "missing"),
        ("apiVersion: audit.k8s.io/v1beta1\nkind: Policy\nrules:\n- level: None\n", "apiVersion", "registered"),
        ("apiVersion: v1\nkind: Policy\nrules:\n- level: None\n", "apiVersion", "registered"),
        (HEAD.replace("Policy", "Event") + "rules:\n- level: None\n", "kind", "registered"),
        (HEAD, "rules", "0 rules"),  # TestPolicyCntCheck
        ("", "apiVersion", "empty"),
        (HEAD + "rules:\n- level: Everything\n", "rules[0].level", "Unsupported value"),
        (HEAD + "rules:\n- verbs: [get]\n", "rules[0].level", "Required"),
        (HEAD + "rules:\n- level: None\n  verbs: get\n", "rules[0].verbs", "list of strings"),
        (HEAD + "rules:\n- level: None\n  users: [y]\n", "rules[0].users[0]", "boolean"),  # YAML 1.1 via go-yaml v2
        (HEAD + "rules:\n- level: None\n  namespaces: [017]\n", "rules[0].namespaces[0]", "number"),
        (HEAD + "rules:\n- level: None\n  nonResourceURLs: [healthz]\n", "rules[0].nonResourceURLs[0]", "begin with"),
        (HEAD + "rules:\n- level: None\n  nonResourceURLs: ['/a*b']\n", "rules[0].nonResourceURLs[0]", "final character"),
        (HEAD + "rules:\n- level: None\n  nonResourceURLs: [/a]\n  namespaces: [x]\n", "rules[0].nonResourceURLs", "both"),
        (HEAD + "rules:\n- level: None\n  resources: [{group: rbac.authorization.k8s.io/v1}]\n", "rules[0].resources[0].group", "RFC 1123"),
        (HEAD + "rules:\n- level: None\n  resources: [{group: '', resourceNames: [x]}]\n", "rules[0].resources[0].resourceNames", "requires"),
        (HEAD + "omitStages: [Sent]\nrules:\n- level: None\n", "omitStages[0]", "allowed stages"),
        (HEAD + "rules:\n- level: None\n  omitManagedFields: 'yes'\n", "rules[0].omitManagedFields", "true or false"),
        (HEAD + "rules: [\n", None, "invalid YAML"),
    ],
)
def test_rejected(text: str, field: str | None, reason: str) -> None:
    with pytest.raises(InputError) as info:
        parse_policy_text(text, "p.yaml")
    assert info.value.where == "p.yaml"
    assert info.value.field == field
    assert reason in info.value.reason


def test_accepted_edge_cases() -> None:
    # a missing kind defaults to Policy; null lists are empty; timestamps stay strings (go-yaml v2)
    policy = parse_policy_text(
        "apiVersion: audit.k8s.io/v1\nrules:\n- level: None\n  users: [2024-01-02]\n  verbs: null\n  omitManagedFields: yes\n"
    )
    assert policy.rules[0].users == ("2024-01-02",) and policy.rules[0].verbs == ()
    assert policy.rules[0].omit_managed_fields is True
    assert parse_policy_text(HEAD + "metadata: {name: p}\nrules: [{level: None}]\n").warnings == ()


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_policy(tmp_path / "absent.yaml")
