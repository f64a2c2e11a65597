"""Result documents and the run store."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.errors import InputError
from bench.results import store
from bench.results.schema import SCHEMA_VERSION, VariantResult, parse_manifest, parse_variant


def doc(**extra):
    d = {
        "schema_version": 2, "kind": "auditbench.variant", "run_id": "r1", "variant_id": "p.log.mixed",
        "repeat": 1, "status": "ok",
        "variant": {"policy": "p", "profile": "mixed", "load": {"mode": "closed", "users": 5, "duration_s": 10.0},
                    "audit": {"log": {"enabled": True, "mode": "blocking", "maxsize": 100}, "webhook": {"enabled": False}}},
        "traffic": {"requests": 1000, "failures": 10, "duration_s": 10.0, "achieved_rps": 100.0},
        "latency_client": {"overall": {"count": 1000, "p50_ms": 2.0, "p99_ms": 9.0}},
        "apiserver": {"cpu_ms_per_1k_requests": 700.0},
        "audit": {"metrics": {"event_total": 900, "error_total": {"buffered": 3, "webhook": 1}},
                  "log": {"enabled": True, "bytes": 500000, "events": 900, "bytes_by_level": {"Metadata": 400000}},
                  "canaries": {"checked": 5, "leaked": ["audit.log:12"]}},
    }
    d.update(extra)
    return d


def test_new_run_ids_sort_by_time_and_differ():
    a = store.new_run_id(datetime(2025, 1, 1, tzinfo=UTC))
    b = store.new_run_id(datetime(2025, 1, 2, tzinfo=UTC))
    assert a < b and a.startswith("20250101T000000Z-")
    assert store.new_run_id() != store.new_run_id()


def test_version_1_loads_flagged():
    r = parse_variant(doc(schema_version=1), "old.json")
    assert r.schema_version == 2 and r.flags and "one-window" in r.flags[0]
    assert r.traffic is not None and r.traffic.requests == 1000


def test_future_schema_version_is_refused():
    with pytest.raises(InputError, match="newer than this auditbench"):
        parse_variant(doc(schema_version=SCHEMA_VERSION + 1), "x.json")


@pytest.mark.parametrize("bad,field", [({"schema_version": "1"}, "schema_version"), ({"kind": "other"}, "kind"),
                                       ({"status": "great"}, "status"), ({"extra": 1}, "extra")])
def test_malformed_documents(bad, field):
    with pytest.raises(InputError) as exc:
        parse_variant(doc(**bad), "x.json")
    assert exc.value.field == field


def test_run_lifecycle(tmp_path: Path):
    run_dir, m = store.create_run("smoke", "ab" * 32, "name: smoke\n", [("p.log.mixed", 1), ("baseline.mixed", 1)],
                                  root=tmp_path, run_id="20250101T000000Z-aaaaaa")
    assert (run_dir / "scenario.yaml").read_text() == "name: smoke\n"
    r = VariantResult.model_validate(doc(run_id=run_dir.name))
    m = store.record_finished(run_dir, m, r)
    assert store.read_manifest(run_dir).finished[0].file == "variants/p.log.mixed-r1.json"
    with pytest.raises(FileExistsError):
        store.write_variant(run_dir, r)
    m = store.set_status(run_dir, m, "interrupted")
    assert store.read_manifest(run_dir).status == "interrupted"
    assert store.read_variant(run_dir / "variants/p.log.mixed-r1.json") == r
    assert store.resolve_run("latest", tmp_path) == run_dir
    assert store.resolve_run(run_dir.name, tmp_path) == run_dir
    with pytest.raises(InputError):
        store.resolve_run("nope", tmp_path)
    with pytest.raises(FileExistsError):
        store.create_run("smoke", "x", "", [], root=tmp_path, run_id=run_dir.name)


def test_manifest_round_trip(tmp_path: Path):
    run_dir, m = store.create_run("s", "0" * 64, "", [("a", 1)], root=tmp_path)
    assert parse_manifest(json.loads((run_dir / "run.json").read_text())) == m


def test_samples_round_trip(tmp_path: Path):
    rows = [(1.7e9 + i, "get-pod", "GET", 1.234567 + i, 200, 512, 1) for i in range(5)]
    path = store.write_samples(tmp_path / "r" / "samples" / "v-r1.csv.gz", rows)
    with gzip.open(path, "rt") as fh:
        assert fh.readline().strip() == "t,cls,method,ms,status,bytes,ok"
    s = store.read_samples(tmp_path / "r", "v", 1)
    assert list(s["ms"]) == pytest.approx([r[3] for r in rows])
    assert store.read_samples(tmp_path / "r", "missing", 1).empty


def test_flattened_frame(tmp_path: Path):
    run_dir, m = store.create_run("s", "0" * 64, "", [], root=tmp_path, run_id="r1")
    store.record_finished(run_dir, m, VariantResult.model_validate(doc()))
    f = store.load_frame(run_dir)
    row = f.iloc[0]
    assert row["client_p99_ms"] == 9.0
    assert row["drops"] == 3 and row["audit_errors"] == 4
    assert row["bytes_per_request"] == 500.0 and row["events_per_request"] == 0.9
    assert row["error_rate"] == 0.01 and row["canary_leaks"] == 1
    assert row["log_bytes.Metadata"] == 400000
    assert np.isnan(row["webhook_batches"])
    assert set(store.METRIC_COLUMNS) <= set(f.columns)


def test_failed_variant_loads_without_figures(tmp_path: Path):
    run_dir, m = store.create_run("s", "0" * 64, "", [], root=tmp_path, run_id="r1")
    failed = {k: v for k, v in doc(status="timeout", error="took too long").items()
              if k not in ("traffic", "latency_client", "apiserver", "audit")}
    store.record_finished(run_dir, m, VariantResult.model_validate(failed))
    f = store.load_frame(run_dir)
    assert f.iloc[0]["status"] == "timeout"
    assert pd.isna(f.iloc[0]["client_p99_ms"])


def _webhook_only(tmp_path: Path, dropped: int) -> pd.Series:
    periods = {"in_window": {"batches": 300, "events": 600, "bytes": 600_000},
               "flushed_at_shutdown": {"batches": 25, "events": 10_000, "bytes": 8_400_000}}
    d = doc(audit={"metrics": {"event_total": 9_000},
                   "webhook": {"batches": 300, "events": 600, "bytes": 600_000, "periods": periods},
                   "reconciliation": {"webhook": {"generated": 9_000, "dropped": dropped, "failed": 0,
                                                  "flushed_at_shutdown": 9_000 - dropped, "reconciles": True}}})
    d["variant"]["audit"] = {"log": {"enabled": False}, "webhook": {"enabled": True, "mode": "batch"}}
    d["traffic"]["requests"] = 7_500
    run_dir, m = store.create_run("s", "0" * 64, "", [], root=tmp_path, run_id=f"r{dropped}")
    store.record_finished(run_dir, m, VariantResult.model_validate(d))
    return store.load_frame(run_dir).iloc[0]


def test_a_webhook_that_lost_events_counts_what_the_apiserver_generated(tmp_path: Path):
    # batch-max-wait 0s: 600 events arrived in the window (generated long before it), 1,000
    # dropped; the policy produced 9,000 for 7,500 requests, at ~845 bytes an event.
    row = _webhook_only(tmp_path, dropped=1_000)
    assert row["events_per_request"] == pytest.approx(9_000 / 7_500)
    assert row["bytes_per_request"] == pytest.approx(9_000_000 / 10_600 * 9_000 / 7_500)
    # nothing lost: what arrived in the window
    row = _webhook_only(tmp_path, dropped=0)
    assert row["events_per_request"] == pytest.approx(600 / 7_500)
    assert row["bytes_per_request"] == pytest.approx(600_000 / 7_500)
