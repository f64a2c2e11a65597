from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.traffic.recorder import COLUMNS, UNFINISHED, InFlight, SampleWriter
from bench.traffic.samples import (errors_by_code, latency_summary, merge_sample_files, read_samples,
                                   status_by_class, summarize)


def _frame(rows: list[tuple]) -> pd.DataFrame:
    """Rows without the open-loop lag column get lag 0 (closed loop)."""
    rows = [r if len(r) == len(COLUMNS) else (*r, 0.0) for r in rows]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def test_percentiles_match_numpy_linear() -> None:
    rng = np.random.default_rng(7)
    ms = rng.lognormal(mean=1.0, sigma=0.6, size=10_001)
    s = latency_summary(ms)
    assert s.count == ms.size
    assert s.p50_ms == pytest.approx(float(np.percentile(ms, 50)))
    assert s.p90_ms == pytest.approx(float(np.percentile(ms, 90)))
    assert s.p99_ms == pytest.approx(float(np.percentile(ms, 99)))
    assert s.p999_ms == pytest.approx(float(np.percentile(ms, 99.9)))
    assert s.mean_ms == pytest.approx(float(ms.mean()))
    assert s.max_ms == float(ms.max())


def test_percentiles_on_known_data_interpolate() -> None:
    s = latency_summary(np.arange(1, 101, dtype=float))  # 1..100 ms
    assert s.p50_ms == pytest.approx(50.5)
    assert s.p90_ms == pytest.approx(90.1)
    assert s.p99_ms == pytest.approx(99.01)
    assert s.p999_ms == pytest.approx(99.901)
    assert latency_summary([]).count == 0


def test_summary_by_class_and_watches_left_out_of_overall() -> None:
    df = _frame([(1.0, "pods.get", "GET", 1.5, 200, 10, 1), (1.1, "pods.get", "GET", 2.5, 200, 10, 1),
                 (1.2, "pods.watch", "GET", 900.0, 200, 0, 1), (1.3, "pods.exec", "POST", 3.0, 400, 80, 1),
                 (1.4, "secrets.get", "GET", 4.0, 403, 50, 0), (1.5, "secrets.get", "GET", 30.0, 0, 0, 0)])
    out = summarize(df, long_running={"pods.watch"})
    assert out["overall"]["count"] == 5
    assert out["overall"]["max_ms"] == 30.0
    assert out["by_class"]["pods.watch"]["count"] == 1
    assert out["by_class"]["pods.get"]["p50_ms"] == pytest.approx(2.0)
    assert errors_by_code(df) == {"0": 1, "403": 1}
    assert status_by_class(df)["pods.exec"] == {"400": 1}


def _write_part(path: Path, rows: list[tuple]) -> None:
    w = SampleWriter(path, block=2)
    for r in rows:
        w.add(*r)
    w.close()


def test_merge_of_worker_files(tmp_path: Path) -> None:
    a = [(100.000001, "pods.get", "GET", 1.23456, 200, 512, True), (100.5, "secrets.get", "GET", 0.5, 403, 90, False),
         (101.0, "pods.get", "GET", 2.0, 200, 512, True)]
    b = [(100.25, "events.create", "POST", 3.75, 201, 700, True), (100.75, "pods.get", "GET", 0.0625, 200, 512, True)]
    _write_part(tmp_path / "samples-0.csv", a)
    _write_part(tmp_path / "samples-1.csv", b)
    _write_part(tmp_path / "samples-2.csv", [])  # a worker that recorded nothing
    out = tmp_path / "samples.csv.gz"
    merged = merge_sample_files(sorted(tmp_path.glob("samples-*.csv")), out)
    assert len(merged) == 5
    assert list(merged["t"]) == sorted(r[0] for r in a + b)
    with gzip.open(out, "rt") as fh:
        assert fh.readline().strip() == ",".join(COLUMNS)
    again = read_samples([out])
    assert list(again.columns) == list(COLUMNS)
    # Full resolution survives the round trip: sub-millisecond values are kept.
    assert sorted(again["ms"]) == pytest.approx(sorted(r[3] for r in a + b), abs=5e-5)  # 0.1 us kept
    assert again["t"].iloc[0] == pytest.approx(100.000001, abs=1e-7)
    assert int(again["ok"].sum()) == 4
    # Merging is the same whatever the order of the part files.
    merged2 = merge_sample_files(sorted(tmp_path.glob("samples-*.csv"), reverse=True), tmp_path / "m2.csv.gz")
    pd.testing.assert_frame_equal(merged, merged2)
    assert (tmp_path / "samples.csv.gz").read_bytes() == (tmp_path / "m2.csv.gz").read_bytes()


def test_writer_flushes_blocks_and_counts(tmp_path: Path) -> None:
    w = SampleWriter(tmp_path / "s.csv", block=3)
    for i in range(7):
        w.add(float(i), "health.readyz", "GET", 0.1 * i, 200, 2, True)
    assert w.count == 7
    w.close()
    w.close()  # idempotent
    assert len(read_samples([tmp_path / "s.csv"])) == 7


def test_requests_unanswered_when_the_traffic_stops_are_failures_not_lost(tmp_path: Path) -> None:
    """A hung server's requests are rows (status UNFINISHED, not ok), so its slowest requests
    cannot vanish from the record; only those started in the window, answered ones dropped."""
    pending = InFlight()
    pending.begin("g1", 100.5, "pods.get", "GET")
    pending.begin("g2", 101.0, "pods.create", "POST", lag_ms=12.0)
    pending.begin("g3", 99.0, "pods.get", "GET")  # started in the warm-up
    pending.begin("g4", 109.0, "pods.get", "GET")  # answered
    pending.end("g4")
    pending.begin("g5", 110.0, "pods.get", "GET")  # after the window
    w = SampleWriter(tmp_path / "s.csv")
    assert pending.flush_unfinished(w, 100.0, 110.0, now=112.0) == 2
    assert len(pending) == 0
    w.close()
    df = read_samples([tmp_path / "s.csv"])
    assert list(df["status"]) == [UNFINISHED, UNFINISHED] and list(df["ok"]) == [0, 0]
    assert list(df["ms"]) == pytest.approx([11_500.0, 11_000.0])  # waited until the stop: a lower bound
    assert list(df["lag_ms"]) == pytest.approx([0.0, 12.0])
    assert errors_by_code(df) == {"unfinished": 2}
    assert summarize(df[df["ok"] == 1])["overall"]["count"] == 0
