from bench.report.build import _rule_costs
from bench.results.schema import VariantResult


def _result(vid: str, repeat: int, by_rule: list[dict], status: str = "ok") -> VariantResult:
    return VariantResult.model_validate({
        "run_id": "r", "variant_id": vid, "repeat": repeat, "status": status,
        "variant": {"policy": "seed-production", "profile": "mixed", "load": {"mode": "closed", "users": 1}},
        "audit": {"log": {"by_rule": by_rule}},
    })


def test_rule_costs_take_the_first_repeat_and_compute_shares():
    rows = [{"rule": 3, "level": "Request", "description": "rbac", "events": 10, "bytes": 750},
            {"rule": 9, "level": "Metadata", "description": "catch-all", "events": 20, "bytes": 250}]
    out = _rule_costs([_result("a", 2, rows[:1]), _result("a", 1, rows), _result("b", 1, [])])
    assert [v["variant_id"] for v in out] == ["a"]  # b has no per-rule figures
    assert out[0]["repeat"] == 1
    assert [r["share"] for r in out[0]["rules"]] == [0.75, 0.25]


def test_rule_costs_of_a_failed_repeat_are_not_shown():
    rows = [{"rule": 3, "level": "Request", "description": "rbac", "events": 10, "bytes": 750}]
    out = _rule_costs([_result("a", 1, rows, "failed"), _result("a", 2, rows[:1])])
    assert [(v["variant_id"], v["repeat"]) for v in out] == [("a", 2)]
    assert _rule_costs([_result("b", 1, rows, "timeout")]) == []
