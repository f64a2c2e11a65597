"""Growth with collection size on the real local backend, at small sizes: the objects profile
reads collections of 40 configmaps of 1 and 16 KB under no audit and RequestResponse; every
growth figure is there, measured, and the report draws memory against LIST size."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from rich.console import Console

from bench.report.build import build_report
from bench.results import store
from bench.runner import run_scenario

pytestmark = pytest.mark.integration

SCENARIO = {
    "name": "growth-small", "policies": ["requestresponse-all"], "baseline": True,
    "audit": {"log": {"enabled": [True], "maxsize": 1000}},
    "traffic": {"profiles": ["objects"], "mode": "closed", "users": 2, "duration": "6s", "warmup": "2s",
                "objects": {"count": [40], "size_kb": [1, 16]}},
    "timeseries": "1s", "repeats": 1, "seed": 3, "timeout": "3m",
}


def test_collection_growth_figures_and_report(binaries, tmp_path: Path) -> None:
    path = tmp_path / "growth.yaml"
    path.write_text(yaml.safe_dump(SCENARIO))
    outcome = run_scenario(path, root=tmp_path / "results", console=Console(quiet=True))
    results = {r.variant_id: r for r in store.load_variants(outcome.run_dir)}
    assert set(results) == {f"{p}.objects.n40-s{s}k" for p in ("baseline", "requestresponse-all.log") for s in (1, 16)}
    for vid, r in results.items():
        # RequestResponse logs the fixtures' secret canaries: "leaked" is its honest status
        assert r.status in ("ok", "leaked"), (vid, r.status, r.error, r.flags)
        c = r.growth["collection"]
        assert c["count"] == c["list_items"] == 40
        window = r.series["window"]
        assert window["points"] >= 4
        heap = window["heap_inuse_bytes"]
        assert heap["peak"] >= heap["mean"] > 50 << 20  # the apiserver's own metric, not a guess
        assert r.apiserver.rss_peak_bytes >= r.apiserver.rss_mean_bytes > 0
        kinds = r.growth["by_kind"]
        assert {"bulk.list", "bulk.listpaged", "bulk.get"} <= set(kinds)
        assert all(k["requests"] > 0 and k["failures"] == 0 for k in kinds.values() if k["requests"])
        assert len(r.series["latency"]) >= 5
    small, big = (results[f"baseline.objects.n40-s{s}k"].growth["collection"]["list_response_bytes"] for s in (1, 16))
    assert big > 10 * small > 40 * 1024
    for s in (1, 16):
        base = results[f"baseline.objects.n40-s{s}k"].growth
        rr = results[f"requestresponse-all.log.objects.n40-s{s}k"].growth
        assert base["audit_source"] is None and "audit_bytes" not in base["by_kind"]["bulk.list"]
        # at RequestResponse an unpaged LIST's event carries the whole response
        per_list = rr["by_kind"]["bulk.list"]["audit_bytes_per_request"]
        assert per_list > 0.9 * rr["collection"]["list_response_bytes"]
        assert rr["by_kind"]["bulk.list"]["audit_events_per_request"] == pytest.approx(1.0, abs=0.2)
    files = build_report(outcome.run_dir)
    report = files.markdown.read_text()
    assert "## How it grows" in report and "heap bytes per LIST byte" in report
    assert (outcome.run_dir / "plots" / "growth-collection.png").is_file()
