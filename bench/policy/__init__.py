"""Audit policies: loading like kube-apiserver, the policy checker, lint, explain, diff, corpus.

Public API (stable names; other areas import these):
    load_policy, parse_policy, parse_policy_text      -- loader.py
    Policy, PolicyRule, GroupResources                 -- model.py
    RequestAttributes, parse_request, to_http, is_long_running   -- request.py
    Decision, evaluate, stages_for, expected_stages    -- checker.py
    lint, Finding                                      -- lint.py
    corpus, random_policy, IDENTITIES                  -- corpus.py
"""

from __future__ import annotations

from bench.policy.checker import Decision, evaluate, expected_stages, stages_for
from bench.policy.corpus import IDENTITIES, corpus, random_policy
from bench.policy.lint import Finding, lint
from bench.policy.loader import load_policy, parse_policy, parse_policy_text
from bench.policy.model import GroupResources, Policy, PolicyRule
from bench.policy.request import RequestAttributes, is_long_running, parse_request, to_http

__all__ = [
    "Decision", "Finding", "GroupResources", "IDENTITIES", "Policy", "PolicyRule", "RequestAttributes",
    "corpus", "evaluate", "expected_stages", "is_long_running", "lint", "load_policy", "parse_policy",
    "parse_policy_text", "parse_request", "random_policy", "stages_for", "to_http",
]
