"""Differential test: the evaluator's prediction vs the real apiserver, request by request.

For each shipped policy and for random policies, a real cluster runs under the policy, the
request corpus is sent (each response carries its Audit-Id), and the level and the set of
stages in the real audit log are compared with bench.policy's prediction. 100% agreement is
required; the test prints how many requests it compared.
"""

from __future__ import annotations

import random
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from bench.controlplane.audit import AuditSettings
from bench.controlplane.http import Client
from bench.controlplane.local import LocalCluster
from bench.logs.reader import log_events
from bench.policy.checker import expected_stages
from bench.policy.corpus import corpus, random_policy
from bench.policy.loader import load_policy
from bench.policy.request import RequestAttributes, to_http
from bench.paths import project_root

pytestmark = pytest.mark.integration

# The corpus names the admin "admin"; the local backend's admin token user is auditbench-admin.
_REAL_USER = {"admin": "auditbench-admin"}
_SHIPPED = sorted(p.stem for p in (project_root() / "policies").glob("*.yaml"))


def _real(attrs: RequestAttributes) -> RequestAttributes:
    user = _REAL_USER.get(attrs.user, attrs.user)
    return RequestAttributes(user, attrs.groups, attrs.verb, attrs.namespace, attrs.api_group, attrs.api_version,
                             attrs.resource, attrs.subresource, attrs.name, attrs.path, attrs.is_resource_request,
                             attrs.authenticated)


def _rename_users(doc: dict) -> dict:
    for rule in doc.get("rules", []):
        if "users" in rule:
            rule["users"] = [_REAL_USER.get(u, u) for u in rule["users"]]
    return doc


def _compare(binaries, tmp_path: Path, policy_file: Path, requests: list[RequestAttributes]) -> tuple[int, list[str]]:
    policy = load_policy(policy_file)
    sent: dict[str, RequestAttributes] = {}
    with LocalCluster(audit=AuditSettings(policy=policy_file), binaries=binaries, run_dir=tmp_path / policy_file.stem,
                      with_controller_manager=False) as cluster:
        by_user = {i.user: i.token for i in cluster.identities}
        clients = {u: Client(cluster.server, str(cluster.ca_file), t, timeout=15, maxsize=16) for u, t in by_user.items()}

        def send(attrs: RequestAttributes) -> tuple[str | None, RequestAttributes]:
            http = to_http(attrs)
            body = {} if http.method in ("POST", "PUT", "PATCH") else None
            headers = {"Content-Type": "application/merge-patch+json"} if http.method == "PATCH" else None
            resp = clients[attrs.user].request(http.method, http.uri(), body, headers)
            return resp.headers.get("audit-id"), attrs

        with ThreadPoolExecutor(16) as pool:
            for audit_id, attrs in pool.map(send, requests):
                assert audit_id, f"no Audit-Id header for {attrs}"
                sent[audit_id] = attrs
        for c in clients.values():
            c.close()
        log = cluster.audit_log_path
    # the cluster is stopped: SIGTERM flushed every event
    real: dict[str, list[dict]] = defaultdict(list)
    for ev in log_events(log):
        if ev["auditID"] in sent:
            real[ev["auditID"]].append(ev)
    mismatches = []
    for audit_id, attrs in sent.items():
        decision, stages = expected_stages(policy, attrs)
        events = real.get(audit_id, [])
        got_levels = {e["level"] for e in events}
        got_stages = sorted(e["stage"] for e in events)
        want_level = set() if decision.level == "None" else {decision.level}
        if got_levels != want_level or got_stages != sorted(stages):
            mismatches.append(f"{attrs.user} {to_http(attrs).method} {to_http(attrs).uri()}: "
                              f"predicted {decision.level} {sorted(stages)} (rule {decision.rule_index}), "
                              f"apiserver {sorted(got_levels) or ['None']} {got_stages}")
    return len(sent), mismatches


@pytest.mark.parametrize("name", _SHIPPED)
def test_shipped_policy_matches_the_apiserver(binaries, tmp_path, name):
    requests = [_real(a) for a in corpus()]
    n, mismatches = _compare(binaries, tmp_path, project_root() / "policies" / f"{name}.yaml", requests)
    print(f"{name}: compared {n} requests, {len(mismatches)} mismatches")
    assert not mismatches, f"{len(mismatches)}/{n} disagree, e.g.\n" + "\n".join(mismatches[:10])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_policy_matches_the_apiserver(binaries, tmp_path, seed):
    rng = random.Random(seed)
    doc = _rename_users(random_policy(rng))
    policy_file = tmp_path / f"random-{seed}.yaml"
    policy_file.write_text(yaml.safe_dump(doc))
    requests = [_real(a) for a in corpus(seed)]
    n, mismatches = _compare(binaries, tmp_path, policy_file, requests)
    print(f"random policy {seed}: compared {n} requests, {len(mismatches)} mismatches")
    assert not mismatches, f"{len(mismatches)}/{n} disagree, e.g.\n" + "\n".join(mismatches[:10]) + "\npolicy:\n" + yaml.safe_dump(doc)
