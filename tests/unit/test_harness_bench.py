"""`auditbench harness bench`: the window arithmetic, the verdict lines, and the load-generator
figure for real against the trivial endpoint (figures printed, not asserted: not a timed test)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bench.harness.benchmark import CpuSeries
from bench.harness.cli import verdicts
from bench.paths import project_root


def test_cpu_series_interpolates_over_any_window() -> None:
    series = CpuSeries(lambda: None)
    series.samples = [(100.0, 1.0), (101.0, 1.5), (103.0, 2.5)]
    assert series.between(100.5, 102.0) == pytest.approx(2.0 - 1.25)
    assert series.between(99.0, 104.0) == pytest.approx(1.5)  # clamped to the first and last sample
    with pytest.raises(ValueError):
        CpuSeries(lambda: None).between(0, 1)


def test_cpu_series_samples_a_counter_on_its_thread() -> None:
    ticks = iter(range(1000))
    with CpuSeries(lambda: float(next(ticks)), interval=0.01) as series:
        import time

        time.sleep(0.1)
    values = [v for _, v in series.samples]
    assert len(values) >= 5 and values == sorted(values)


_DOC = {
    "loadgen": {"rps_per_loadgen_core": 3000, "achieved_rps": 1500.0},
    "saturation": {"achieved_rps": 500.0, "rps_per_loadgen_core": 2000, "apiserver_cores": 0.95, "etcd_cores": 0.05,
                   "rps_per_control_plane_core": 500, "control_plane_cpus": 1},
    "harness_cpu": {"harness_cores": 0.03, "achieved_rps": 990.0, "target_rps": 1000.0},
    "start": {"ready_median_s": 4.2, "ready_min_s": 4.0, "ready_max_s": 4.9, "starts": 3},
}


def test_verdicts_state_each_figure_against_its_goal() -> None:
    lines = verdicts(_DOC)
    assert lines[0].startswith("load generator 3,000 req/s per core (trivial endpoint; 2,000 against the apiserver) "
                               "vs apiserver saturation 500 req/s on 1 CPU(s)")
    assert "6.0x (4.0x in situ) (goal >= 5x: met)" in lines[0]
    assert "harness CPU 3.0% of one core during 990.0 req/s (target 1000) (goal <= 10%: met)" == lines[1]
    assert lines[2].startswith("start-to-ready median 4.20s") and lines[2].endswith("(goal <= 5s: met)")


def test_a_starved_apiserver_is_judged_by_what_it_serves_per_cpu_second() -> None:
    # 300 req/s on 0.35 of its CPU: alone it would serve 750; the goal is judged against 750.
    starved = {**_DOC, "saturation": {**_DOC["saturation"], "achieved_rps": 300.0, "apiserver_cores": 0.35,
                                      "rps_per_control_plane_core": 750},
               "harness_cpu": {**_DOC["harness_cpu"], "harness_cores": 0.2}, "start": {**_DOC["start"], "ready_median_s": 6.0}}
    lines = verdicts(starved)
    assert "saturation 750 req/s on 1 CPU(s): 4.0x (2.7x in situ) (goal >= 5x: NOT met)" in lines[0]
    assert lines[1].startswith("  note: the apiserver used 0.35 of its 1 CPU(s) and reached 300.0 req/s")
    assert all("NOT met" in line for line in lines[2:])


def test_the_load_generator_figure_for_real() -> None:
    proc = subprocess.run([sys.executable, "-m", "bench.cli", "harness", "bench", "--only", "loadgen", "--duration", "2s",
                           "--users", "4", "--format", "json"], capture_output=True, text=True, timeout=180,
                          cwd=project_root())
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout)
    gen = doc["loadgen"]
    print(f"load generator: {gen}")
    assert gen["requests"] > 0 and gen["failures"] == 0 and gen["rps_per_loadgen_core"] > 0
    assert set(doc) == {"load_average", "cpus", "pinning", "loadgen", "verdicts"}


def test_bad_options_are_one_line_and_exit_2() -> None:
    proc = subprocess.run([sys.executable, "-m", "bench.cli", "harness", "bench", "--only", "loadgen,speed"],
                          capture_output=True, text=True, timeout=60, cwd=project_root())
    assert proc.returncode == 2 and "--only: choose from loadgen" in proc.stderr and "Traceback" not in proc.stderr
