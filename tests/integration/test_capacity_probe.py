"""The capacity probe on the real local backend finds a finite capacity (coarse, to stay short)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.measure.capacity import probe_variant
from bench.measure.variant import cpu_split
from bench.scenario.loader import parse_scenario
from bench.scenario.matrix import expand
from bench.scenario.model import CapacityProbe

pytestmark = pytest.mark.integration


def test_probe_finds_a_finite_capacity_of_the_baseline(binaries, tmp_path: Path) -> None:
    scenario = parse_scenario({"name": "probe", "policies": ["metadata-all"], "traffic": {
        "profiles": ["mixed"], "mode": "open", "target_rps": 50, "duration": "3s", "warmup": "1s"}})
    (baseline,) = [v for v in expand(scenario) if v.is_baseline]
    settings = CapacityProbe.model_validate({"start_rps": 100, "max_rps": 6400, "step_duration": "3s",
                                             "step_warmup": "1s", "precision": 0.3})
    doc = probe_variant(baseline, binaries, settings, 1, tmp_path, cpu_split(True), echo=lambda m: None)
    steps = doc["steps"]
    print(f"\ncapacity {doc['capacity_rps']} req/s, bracket {doc['bracket']}, steps "
          f"{[(round(s['target_rps']), s['passed'], s['reason']) for s in steps]}")
    assert doc["capacity_rps"] is not None and 100 <= doc["capacity_rps"] < 6400, doc
    lo, hi = doc["bracket"]
    assert hi is not None and hi / lo - 1 <= 0.3  # a failing step above a passing one, close enough
    # every passing step kept its rate and its SLO; the failing one says why
    for s in steps:
        assert s["passed"] == (s["achieved_rps"] >= 0.98 * s["target_rps"] and s["p99_ms"] is not None
                               and s["p99_ms"] <= 1000 and s["error_rate"] <= 0.01), s
    assert any(not s["passed"] and s["reason"] for s in steps)
