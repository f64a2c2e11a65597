"""`traffic from-log` on a log captured from the local backend: the derived profile's shares are
the log's, and replaying it on a fresh cluster writes a log whose request shares match them
within 2 percentage points, class by class (verb, resource, scope, user kind)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bench.agents import TRAFFIC_AGENT
from bench.controlplane.audit import AuditSettings
from bench.controlplane.local import LocalCluster
from bench.logs.reader import log_files
from bench.paths import project_root
from bench.traffic.derive import derive
from bench.traffic.launcher import ClusterInfo, run_traffic
from bench.traffic.profiles import load_profile

pytestmark = pytest.mark.integration

AGENT = TRAFFIC_AGENT.split("/")[0]  # the traffic's own requests; set-up, probes and controllers left out
POLICY = project_root() / "policies" / "metadata-all.yaml"


def _traffic_log(binaries, run_dir: Path, **traffic) -> list[Path]:
    with LocalCluster(audit=AuditSettings(policy=POLICY), binaries=binaries, run_dir=run_dir / "cluster") as cluster:
        result = run_traffic(ClusterInfo.from_local(cluster), seed=4, samples_path=run_dir / "s.csv.gz",
                             canary_path=run_dir / "canaries.txt", **traffic)
        assert result.requests > 500
        live = cluster.audit_log_path
    return log_files(live)


def test_derived_profile_replays_with_the_logs_shares(binaries, tmp_path: Path) -> None:
    captured = _traffic_log(binaries, tmp_path / "capture", profile="mixed", mode="closed", users=4, target_rps=None,
                            duration_s=15.0, warmup_s=1.0)
    doc, tally = derive(captured, "captured", user_agent=AGENT)
    assert tally.skipped_agent > 0 and tally.total > 500
    profiles = tmp_path / "captured.yaml"
    profiles.write_text(yaml.safe_dump(doc))
    profile = load_profile("captured", profiles)
    assert profile.rate_rps and profile.rate_rps > 10
    want = profile.shares()
    assert want == pytest.approx(tally.shares())  # weights are the log's request counts
    # replay at the captured rate on a fresh cluster
    replayed = _traffic_log(binaries, tmp_path / "replay", profile="captured", mode="open", users=None,
                            target_rps=profile.rate_rps, duration_s=25.0, warmup_s=1.0, profiles_file=profiles)
    _, again = derive(replayed, "replayed", user_agent=AGENT)
    got = again.shares()
    assert again.total > 1000
    worst = max(set(want) | set(got), key=lambda c: abs(want.get(c, 0.0) - got.get(c, 0.0)))
    diff = abs(want.get(worst, 0.0) - got.get(worst, 0.0))
    assert diff <= 0.02, (worst, want.get(worst), got.get(worst))
    assert set(got) <= set(want), sorted(set(got) - set(want))  # the replay adds no class of its own
