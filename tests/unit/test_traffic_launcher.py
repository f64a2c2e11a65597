from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bench.errors import InputError
from bench.traffic.launcher import ClusterInfo, _validate, run_traffic


@pytest.mark.parametrize(("kwargs", "field"), [
    (dict(mode="both"), "mode"),
    (dict(users=None), "users"),
    (dict(users=0), "users"),
    (dict(target_rps=50.0), "target_rps"),
    (dict(mode="open", users=None, target_rps=None), "target_rps"),
    (dict(mode="open", users=None, target_rps=-1.0), "target_rps"),
    (dict(duration_s=0.0), "duration"),
    (dict(warmup_s=-1.0), "warmup"),
    (dict(workers=-1), "workers"),
    (dict(max_requests=0), "max_requests"),
])
def test_bad_parameters_are_input_errors(kwargs: dict, field: str) -> None:
    args = dict(mode="closed", users=4, target_rps=None, duration_s=10.0, warmup_s=1.0, workers=0, max_requests=None)
    args.update(kwargs)
    with pytest.raises(InputError) as err:
        _validate(**args)
    assert err.value.field == field


def test_open_loop_user_budget() -> None:
    # users for 250 ms per request at the target rate, plus 4: the schedule holds through a slow tail
    assert _validate("open", None, 10.0, 1, 0, 0, None) == 7
    assert _validate("open", None, 100.0, 1, 0, 0, None) == 29
    assert _validate("open", None, 10_000.0, 1, 0, 0, None) == 1000
    assert _validate("open", 7, 100.0, 1.0, 0.0, 0, None) == 7


def test_bad_profile_fails_before_touching_the_cluster(tmp_path: Path) -> None:
    info = ClusterInfo("https://127.0.0.1:1", tmp_path / "ca.crt", tmp_path / "identities.json")
    with pytest.raises(InputError, match="no profile named"):
        run_traffic(info, "nope", "closed", 2, None, 1.0, 0.0, 1, tmp_path / "s.csv.gz", tmp_path / "c.txt")


def test_orchestrator_side_never_imports_locust() -> None:
    import subprocess

    code = ("import sys, bench.traffic.launcher, bench.traffic.samples, bench.traffic.cli, bench.traffic.fixtures, "
            "bench.traffic.transport, bench.traffic.worker; "
            "sys.exit(1 if any(m == 'locust' or m.startswith(('locust.', 'gevent')) for m in sys.modules) else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
