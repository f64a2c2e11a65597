"""Explain one request under a policy: the matching rule, level, stages, and why earlier rules missed."""

from __future__ import annotations

from typing import Any

from bench.policy.checker import compile_policy, first_mismatch, stages_for
from bench.policy.model import Policy
from bench.policy.request import RequestAttributes, describe, is_long_running


def explain(policy: Policy, attrs: RequestAttributes) -> dict[str, Any]:
    decision = compile_policy(policy).evaluate(attrs)
    long_running = is_long_running(attrs)
    last = decision.rule_index if decision.rule_index is not None else len(policy.rules)
    return {
        "request": describe(attrs),
        "attributes": {
            "user": attrs.user, "groups": list(attrs.groups), "verb": attrs.verb, "namespace": attrs.namespace,
            "api_group": attrs.api_group, "resource": attrs.resource, "subresource": attrs.subresource,
            "name": attrs.name, "path": attrs.path, "is_resource_request": attrs.is_resource_request,
        },
        "rule_index": decision.rule_index,
        "level": decision.level,
        "omit_stages": sorted(decision.omit_stages),
        "omit_managed_fields": decision.omit_managed_fields,
        "long_running": long_running,
        "stages": stages_for(decision, long_running, attrs.authenticated),
        "rule": policy.rules[decision.rule_index].to_dict() if decision.rule_index is not None else None,
        "skipped": [
            {"rule_index": i, "level": policy.rules[i].level, "mismatch": first_mismatch(policy.rules[i], attrs)}
            for i in range(last)
        ],
    }


def render_text(result: dict[str, Any]) -> str:
    lines = [f"request: {result['request']}"]
    if result["rule_index"] is None:
        lines.append("matched: no rule (the default is level None)")
    else:
        lines.append(f"matched: rules[{result['rule_index']}] {result['rule']}")
    lines.append(f"level: {result['level']}")
    stages = ", ".join(result["stages"]) or "none (nothing is logged)"
    lines.append(f"stages: {stages}" + ("  [long-running request]" if result["long_running"] else ""))
    if result["omit_stages"]:
        lines.append(f"omitStages: {', '.join(result['omit_stages'])}")
    lines.append(f"omitManagedFields: {str(result['omit_managed_fields']).lower()}")
    for skip in result["skipped"]:
        lines.append(f"  rules[{skip['rule_index']}] ({skip['level']}) did not match: {skip['mismatch']}")
    return "\n".join(lines)
