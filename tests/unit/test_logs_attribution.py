"""Per-rule cost of a log written by the real apiserver under a known policy."""

from __future__ import annotations

import json
from pathlib import Path

from bench.logs import attribution, reader
from bench.policy.loader import load_policy, parse_policy_text

ROOT = Path(__file__).resolve().parent.parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "logs"


def log_events(name: str) -> list[tuple[dict, int]]:
    return list(reader.iter_events(reader.expand([FIXTURES / f"whatif-{name}.log"])))


def test_seed_production_log_attributed_to_its_rules() -> None:
    policy = load_policy(ROOT / "policies" / "seed-production.yaml")
    evs = log_events("seed-production")
    res = attribution.attribute(evs, policy)
    assert res.inconsistent == {}  # every event fits the policy that wrote it
    assert res.events == len(evs)
    assert res.bytes == (FIXTURES / "whatif-seed-production.log").stat().st_size
    assert [r.rule_index for r in res.rules] == list(range(len(policy.rules)))
    assert sum(r.events for r in res.rules) == res.events and sum(r.bytes for r in res.rules) == res.bytes
    by_rule = {r.rule_index: r for r in res.rules}
    # Rule 2 (secrets, configmaps at Metadata) and rule 3 (RBAC at Request) saw traffic;
    # the None rules wrote nothing.
    assert by_rule[2].events > 0 and by_rule[3].events > 0
    assert by_rule[0].events == by_rule[1].events == 0
    # Checked independently: the RBAC rule's bytes are exactly the RBAC events' lines.
    rbac = sum(n for e, n in evs if (e.get("objectRef") or {}).get("apiGroup") == "rbac.authorization.k8s.io")
    assert by_rule[3].bytes == rbac
    assert by_rule[3].level == "Request" and "rbac.authorization.k8s.io" in by_rule[3].description


def test_wrong_policy_is_flagged_not_hidden() -> None:
    policy = load_policy(ROOT / "policies" / "seed-production.yaml")
    res = attribution.attribute(log_events("mixed"), policy)
    assert res.inconsistent
    unmatched = parse_policy_text(
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n  verbs: [get]\n")
    res = attribution.attribute(log_events("seed-production"), unmatched)
    assert res.rules[-1].rule_index is None and res.rules[-1].events > 0


def test_describe_rule() -> None:
    policy = load_policy(ROOT / "policies" / "seed-production.yaml")
    assert attribution.describe_rule(policy.rules[0]) == "verbs get,list,watch; core/endpoints,events"
    assert attribution.describe_rule(policy.rules[1]) == "urls /healthz*,/readyz*,/livez*"
    assert attribution.describe_rule(policy.rules[-1]) == "omit RequestReceived"
    assert attribution.describe_rule(parse_policy_text(
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n").rules[0]) == "everything else"


def test_cli_json() -> None:
    from typer.testing import CliRunner

    from bench.logs import cli

    result = CliRunner().invoke(cli.app, ["attribute", str(FIXTURES / "whatif-seed-production.log"),
                                          "--policy", str(ROOT / "policies" / "seed-production.yaml"), "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["events"] == len(log_events("seed-production"))
    assert max(doc["rules"], key=lambda r: r["bytes"])["rule"] is not None


def test_duckdb_path_equals_the_per_event_path() -> None:
    policies = [load_policy(ROOT / "policies" / "seed-production.yaml"), load_policy(FIXTURES / "whatif-mixed-policy.yaml")]
    for name in ("seed-production", "mixed", "capture"):
        sources = reader.expand([FIXTURES / f"whatif-{name}.log"])
        for policy in policies:
            slow = attribution.attribute(reader.iter_events(sources), policy).to_json()
            fast = attribution.attribute_sources(sources, policy).to_json()
            assert fast == slow, (name, policy.source)
    # Odd events too: sorted keys, a missing username, a string objectRef, non-resource URLs.
    sources = reader.expand([FIXTURES / "detect-cases.log"])
    assert attribution.attribute_sources(sources, policies[0]).to_json() == \
        attribution.attribute(reader.iter_events(sources), policies[0]).to_json()
