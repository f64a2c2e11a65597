"""Capacity projection arithmetic."""

from __future__ import annotations

import math

import pytest

from bench.analysis.capacity import MB, CapacityInput, plan


def test_volume_rotation_and_retention():
    p = plan(CapacityInput(rate_rps=100, bytes_per_request=1000, events_per_request=1.0, maxsize_mb=100,
                           maxbackup=10, maxage_days=30, retention_days=7))
    per_day = 100 * 1000 * 86400
    assert p.bytes_per_day == per_day and p.gb_per_day == pytest.approx(8.64)
    assert p.files_per_day == pytest.approx(per_day / (100 * MB))
    assert p.retention_bytes == 11 * 100 * MB
    assert p.days_covered == pytest.approx(11 * 100 * MB / per_day)
    assert p.holds_maxage is False and p.holds_retention is False


def test_enough_rotation_holds_maxage():
    p = plan(CapacityInput(rate_rps=1, bytes_per_request=100, events_per_request=1, maxsize_mb=100, maxbackup=10,
                           maxage_days=30, retention_days=30))
    assert p.holds_maxage and p.holds_retention
    assert p.disk_bytes == pytest.approx(30 * 86400 * 100)


def test_no_rotation_and_unlimited_backups():
    p = plan(CapacityInput(rate_rps=1, bytes_per_request=100, events_per_request=1, maxsize_mb=0, maxbackup=10))
    assert math.isinf(p.days_covered) and any("without bound" in n for n in p.notes)
    p = plan(CapacityInput(rate_rps=1, bytes_per_request=100, events_per_request=1, maxsize_mb=100, maxbackup=0,
                           maxage_days=30))
    assert math.isinf(p.retention_bytes) and p.holds_maxage


def test_webhook_headroom_and_burst_buffer():
    base = dict(rate_rps=1000, bytes_per_request=500, events_per_request=2.0, webhook_enabled=True,
                webhook_mode="batch", batch_max_size=400, throttle_enable=True, throttle_qps=10, buffer_size=10000)
    p = plan(CapacityInput(**base, burst_factor=3.0))
    assert p.event_rate == 2000 and p.webhook_capacity == 4000
    assert p.webhook_headroom == 2.0
    assert p.buffer_fill_s == pytest.approx(10000 / (6000 - 4000))
    assert math.isinf(plan(CapacityInput(**base, burst_factor=1.5)).buffer_fill_s)


def test_blocking_webhook_has_no_buffer():
    p = plan(CapacityInput(rate_rps=10, bytes_per_request=1, events_per_request=1, webhook_enabled=True,
                           webhook_mode="blocking"))
    assert p.webhook_headroom is None and p.buffer_fill_s is None


def test_added_cores_and_p99_overhead():
    p = plan(CapacityInput(rate_rps=800, bytes_per_request=1, events_per_request=1, cpu_ms_per_1k=900,
                           baseline_cpu_ms_per_1k=700, p99_ratio=1.08))
    # 200 ms per 1k requests = 0.2 ms/request × 800/s = 0.16 cores
    assert p.added_cores == pytest.approx(0.16)
    assert p.p99_overhead == pytest.approx(0.08)


def test_added_cores_and_p99_overhead_carry_their_intervals():
    from bench.analysis.capacity import resolved

    p = plan(CapacityInput(rate_rps=800, bytes_per_request=1, events_per_request=1, cpu_ms_per_1k=900,
                           baseline_cpu_ms_per_1k=700, p99_ratio=1.08, cpu_ratio_interval=(1.1, 1.5),
                           p99_ratio_interval=(0.9, 1.3)))
    # CPU ratio 1.1..1.5 of the baseline's 0.7 ms/request at 800/s: 0.056..0.28 cores
    assert p.added_cores_interval == pytest.approx((0.056, 0.28))
    assert p.p99_overhead_interval == pytest.approx((-0.1, 0.3))
    assert resolved(p.added_cores_interval) is True
    assert resolved(p.p99_overhead_interval) is False
    assert resolved(None) is None
    # no interval over repeats: none projected
    assert plan(CapacityInput(rate_rps=800, bytes_per_request=1, events_per_request=1, cpu_ms_per_1k=900,
                              baseline_cpu_ms_per_1k=700)).added_cores_interval is None


def test_a_cost_whose_interval_includes_zero_reads_inconclusive():
    from bench.report.fmt import cost

    assert cost(0.16, (0.056, 0.28)) == "0.16 [0.056, 0.28]"
    assert cost(-0.296, (-0.5, 0.2), as_pct=True) == "inconclusive (-29.6% [-50.0%, +20.0%])"
    assert cost(0.08, None, as_pct=True) == "inconclusive (+8.0%, no interval)"
    assert cost(None, None) == "–"


def test_basis_measured_interpolated_extrapolated():
    from bench.analysis.capacity import basis_for

    assert basis_for([100, 200, 400], 204).method == "measured"
    b = basis_for([100, 200, 400], 300)
    assert b.method == "interpolated" and b.rates == (200, 400)
    e = basis_for([100, 200], 800)
    assert e.method == "extrapolated" and e.rates == (200,) and "held constant" in e.note
    assert basis_for([], 800).method == "closed loop"


def test_interpolation_between_bracketing_rates():
    from bench.analysis.capacity import _at, basis_for

    b = basis_for([200.0, 400.0], 300.0)
    assert _at({200.0: 1000.0, 400.0: 1200.0}, b, 300.0) == 1100.0
    assert _at({200.0: 1000.0, 400.0: None}, b, 300.0) == 1000.0  # a missing side falls back to the other


def test_capacity_headroom_note():
    from bench.analysis.capacity import CapacityInput, plan

    p = plan(CapacityInput(rate_rps=800, bytes_per_request=1000, events_per_request=1.2, capacity_rps=520))
    assert p.capacity_headroom == 0.65 and any("below the target rate" in n for n in p.notes)
