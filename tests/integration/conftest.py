"""Fixtures that start the real local control plane (built binaries required).

Integration tests never skip silently: without binaries they fail with the command to run,
because CI builds the control plane before it runs pytest.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.controlplane.audit import AuditSettings
from bench.controlplane.build import Binaries, resolve
from bench.controlplane.local import LocalCluster
from bench.errors import EnvironmentProblem
from bench.paths import project_root

POLICIES = project_root() / "policies"


@pytest.fixture(scope="session")
def binaries() -> Binaries:
    try:
        return resolve(allow_build=False)
    except EnvironmentProblem as exc:
        pytest.fail(f"{exc} — run `make controlplane` (or `auditbench controlplane build`) first")


@pytest.fixture(scope="module")
def seed_cluster(binaries: Binaries, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    run_dir = tmp_path_factory.mktemp("seed-cluster")
    settings = AuditSettings(policy=POLICIES / "seed-production.yaml")
    with LocalCluster(audit=settings, binaries=binaries, run_dir=run_dir) as cluster:
        yield cluster


def policy_path(name: str) -> Path:
    return POLICIES / f"{name}.yaml"
