"""Traffic against a real local control plane with the reference production policy."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.paths import project_root
from bench.traffic import fixtures
from bench.traffic.canary import find_canaries, read_canaries
from bench.traffic.launcher import ClusterInfo, TrafficResult, run_traffic
from bench.traffic.layout import Layout
from bench.traffic.profiles import load_profile
from bench.traffic.samples import read_samples

pytestmark = pytest.mark.integration

POLICY = project_root() / "policies" / "seed-production.yaml"


@pytest.fixture(scope="module")
def cluster() -> Iterator[object]:
    from bench.controlplane.audit import AuditSettings
    from bench.controlplane.local import LocalCluster

    with LocalCluster(audit=AuditSettings(policy=POLICY)) as c:
        yield c


def _run(cluster: object, tmp_path: Path, profile: str, **kw: object) -> TrafficResult:
    args: dict[str, object] = dict(mode="closed", users=3, target_rps=None, duration_s=10.0, warmup_s=2.0, seed=7)
    args.update(kw)
    return run_traffic(ClusterInfo.from_local(cluster), profile, samples_path=tmp_path / "samples.csv.gz",
                       canary_path=tmp_path / "canaries.txt", **args)  # type: ignore[arg-type]


def _check_cleanup(cluster: object, prefix: str) -> None:
    admin = cluster.client("admin")  # type: ignore[attr-defined]
    layout = Layout(prefix)
    try:
        left = fixtures.remaining_namespaces(admin, layout)
        assert all(phase == "Terminating" for phase in left.values()), left
        assert fixtures.wait_namespaces_gone(admin, layout, timeout_s=90) == {}
        for path in ("/api/v1/nodes", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"):
            names = [i["metadata"]["name"] for i in admin.get(path).json()["items"]]
            assert not [n for n in names if layout.owned(n)], path
    finally:
        admin.close()


@pytest.mark.parametrize("profile", ["mixed", "read-heavy", "write-heavy", "security", "noisy"])
def test_profile_closed_loop(cluster: object, tmp_path: Path, profile: str) -> None:
    result = _run(cluster, tmp_path, profile)
    print(f"\n{profile}: {result.achieved_rps:.0f} req/s closed-loop with {result.users} users, "
          f"p50 {result.latency['overall']['p50_ms']:.2f} ms, p99 {result.latency['overall']['p99_ms']:.2f} ms, "
          f"loadgen {result.loadgen_cpu_util:.0%} of a core, statuses {result.errors_by_code}")
    df = read_samples([result.samples_path])
    assert len(df) == result.requests > 100
    assert result.warmup_requests > 0
    assert (df["t"] >= result.window_start).all() and (df["t"] < result.window_end).all()
    # Full resolution: durations are floats with sub-millisecond parts.
    assert (df["ms"] != df["ms"].round()).mean() > 0.9
    missing = set(load_profile(profile).classes) - set(result.counts_by_class)
    assert not missing, f"classes never sent: {missing}"
    assert result.failures == 0, result.status_by_class
    if "pods.exec" in result.counts_by_class:
        assert result.status_by_class["pods.exec"] == {"400": result.counts_by_class["pods.exec"]}
    _check_cleanup(cluster, result.prefix)


def test_secret_canaries_never_reach_the_audit_log(cluster: object, tmp_path: Path) -> None:
    result = _run(cluster, tmp_path, "security", duration_s=6.0)
    canaries = read_canaries(tmp_path / "canaries.txt")
    assert len(canaries) > 20
    audit = Path(cluster.audit_log_path).read_text()  # type: ignore[attr-defined]
    events = [json.loads(line) for line in audit.splitlines()]
    secret_events = [e for e in events if e.get("objectRef", {}).get("resource") == "secrets"
                     and e["objectRef"].get("namespace", "").startswith(result.prefix)]
    assert secret_events and {e["level"] for e in secret_events} == {"Metadata"}
    assert find_canaries(audit, canaries) == set()
    # The article's detection has something to find: a human bound someone to cluster-admin.
    assert any(e["verb"] == "create" and e.get("objectRef", {}).get("resource") == "clusterrolebindings"
               and e["user"]["username"] == "alice" and e.get("requestObject", {}).get("roleRef", {}).get("name") == "cluster-admin"
               for e in events)


def test_open_loop_reaches_its_target(cluster: object, tmp_path: Path) -> None:
    result = _run(cluster, tmp_path, "mixed", mode="open", users=None, target_rps=100.0)
    print(f"\nopen loop: target 100 req/s, achieved {result.achieved_rps:.1f} with {result.users} users, "
          f"{result.late_slots} late starts")
    assert result.target_rps == 100.0
    assert abs(result.achieved_rps - 100.0) <= 10.0


def test_distributed_workers_merge_like_single_process(cluster: object, tmp_path: Path) -> None:
    result = _run(cluster, tmp_path, "noisy", users=4, workers=2, duration_s=6.0)
    df = read_samples([result.samples_path])
    assert len(df) == result.requests > 100
    assert list(df["t"]) == sorted(df["t"])
    assert not list(result.samples_path.parent.glob("samples-locust/samples-*.csv"))  # parts merged away
    assert result.workers == 2
