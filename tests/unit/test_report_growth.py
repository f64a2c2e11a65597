"""The growth curves' data: rows from results, means over repeats, fits, ratios, the plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.report.growth import NO_AUDIT, against_no_audit, collection_rows, curves, family, fit_line, fits
from bench.report.growth_plots import collection_memory
from bench.results.schema import VariantResult


def _result(policy: str, count: int, size_kb: float, repeat: int, heap: float | None, list_bytes: int,
            status: str = "ok", rss: int = 300 << 20) -> VariantResult:
    base = policy == "baseline"
    vid = (f"baseline.objects.n{count}-s{size_kb:g}k" if base
           else f"{policy}.log.objects.n{count}-s{size_kb:g}k")
    doc: dict[str, Any] = {
        "run_id": "synthetic", "variant_id": vid, "repeat": repeat, "status": status,
        "variant": {"policy": policy, "profile": "objects", "is_baseline": base,
                    "load": {"mode": "closed", "users": 2, "objects_count": count, "object_size_kb": size_kb}},
        "apiserver": {"rss_peak_bytes": rss, "rss_mean_bytes": rss - 1000, "heap_inuse_peak_bytes": 1},
        "growth": {"collection": {"count": count, "size_kb": size_kb, "list_response_bytes": list_bytes},
                   "by_kind": {"bulk.list": {"requests": 10, "p99_ms": 50.0, "p50_ms": 20.0,
                                             "audit_bytes_per_request": 2.0 * list_bytes if policy != "baseline" else None}}},
    }
    if heap is not None:
        doc["series"] = {"interval_s": 1.0, "points": [],
                         "window": {"heap_inuse_bytes": {"peak": heap, "mean": heap / 2}}}
    return VariantResult.model_validate(doc)


def test_rows_take_heap_from_the_series_and_fall_back_to_the_edges() -> None:
    rows = collection_rows([_result("metadata-all", 100, 1, 1, 5e8, 10_000),
                            _result("metadata-all", 100, 4, 1, None, 40_000),
                            _result("metadata-all", 100, 8, 1, 9e8, 80_000, status="failed")])
    assert list(rows["heap_source"]) == ["series", "edges"]
    assert list(rows["heap_peak"]) == [5e8, 1]  # the edge scrapes' peak when no series was taken
    assert list(rows["curve"]) == ["metadata-all.log"] * 2
    assert rows["audit_per_list"].isna().all()  # no audit_events recorded: no per-event figure


def test_family_drops_profile_and_collection_so_a_curve_spans_sizes() -> None:
    assert family(_result("request-all", 1000, 16, 1, 1.0, 1)) == "request-all.log"
    assert family(_result("baseline", 1000, 16, 1, 1.0, 1)) == NO_AUDIT


def test_curves_average_repeats_and_sort_by_list_size() -> None:
    rs = [_result("baseline", 100, 8, 1, 300.0, 800), _result("baseline", 100, 8, 2, 500.0, 800),
          _result("baseline", 100, 1, 1, 200.0, 100)]
    table = curves(collection_rows(rs))
    assert table["list_bytes"].tolist() == [100, 800]
    assert table["heap_peak"].tolist() == [200.0, 400.0]
    assert table["repeats"].tolist() == [1, 2]


def test_fit_recovers_a_known_line_and_reports_r2_only_from_three_points() -> None:
    x = np.array([1e6, 4e6, 16e6])
    slope, intercept, r2 = fit_line(x, 2e8 + 3.5 * x)
    assert slope == pytest.approx(3.5) and intercept == pytest.approx(2e8) and r2 == pytest.approx(1.0)
    assert fit_line(x[:2], np.array([1.0, 2.0]))[2] is None
    with pytest.raises(ValueError):
        fit_line(np.array([1.0, 1.0]), np.array([1.0, 2.0]))
    noisy = fit_line(x, 2e8 + 3.5 * x + np.array([1e6, -2e6, 1e6]))
    assert 0.9 < noisy[2] < 1.0


def test_fits_per_curve_and_ratio_to_the_no_audit_point_of_the_same_collection() -> None:
    rs = []
    for size, lb in ((1, 1_000_000), (16, 16_000_000), (64, 64_000_000)):
        rs.append(_result("baseline", 1000, size, 1, 2e8 + 1.0 * lb, lb))
        rs.append(_result("requestresponse-all", 1000, size, 1, 2e8 + 6.0 * lb, lb))
    table = curves(collection_rows(rs))
    got = {f.curve: f for f in fits(table)}
    assert got[NO_AUDIT].slope == pytest.approx(1.0) and got["requestresponse-all.log"].slope == pytest.approx(6.0)
    ratios = against_no_audit(table)
    big = ratios[ratios["size_kb"] == 64]["ratio"].iloc[0]
    assert big == pytest.approx((2e8 + 6 * 64e6) / (2e8 + 64e6))


def test_the_plot_is_drawn_with_two_sizes_and_left_out_with_one(tmp_path: Path) -> None:
    rs = [_result(p, 100, s, 1, 1e8 * s, 1000 * s) for p in ("baseline", "metadata-all") for s in (1, 8)]
    path = collection_memory(curves(collection_rows(rs)), tmp_path / "g.png")
    assert path is not None and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    one = curves(collection_rows([_result("baseline", 100, 1, 1, 1e8, 1000)]))
    assert collection_memory(one, tmp_path / "h.png") is None


def _node_result(policy: str, nodes: int, events_day: float | None, bytes_day: float | None) -> VariantResult:
    base = policy == "baseline"
    vid = f"baseline.nodes.nodes{nodes}" if base else f"{policy}.log.nodes.nodes{nodes}"
    fleet = {"count": nodes, "requests_per_node_per_day": 17900.0, "window_s": 60.0,
             "content_types": {"leases.renew": {"application/vnd.kubernetes.protobuf | x": 10}}}
    if events_day is not None:
        fleet.update(audit_events_per_node_per_day=events_day, audit_bytes_per_node_per_day=bytes_day)
    return VariantResult.model_validate({
        "run_id": "synthetic", "variant_id": vid, "repeat": 1, "status": "ok",
        "variant": {"policy": policy, "profile": "nodes", "is_baseline": base, "load": {"mode": "closed", "nodes": nodes}},
        "apiserver": {"cpu_seconds": 6.0, "heap_inuse_peak_bytes": 2 << 20}, "growth": {"nodes": fleet}})


def test_nodes_table_per_node_per_day_and_whole_cluster() -> None:
    from bench.report.growth import content_types, nodes_rows, nodes_table

    rs = [_node_result("seed-production", 100, 18000.0, 16e6), _node_result("seed-production", 500, 19000.0, 17e6),
          _node_result("baseline", 100, None, None)]
    t = nodes_table(nodes_rows(rs))
    assert t["curve"].tolist() == [NO_AUDIT, "seed-production.log", "seed-production.log"]
    prod500 = t[(t["nodes"] == 500)].iloc[0]
    assert prod500["gb_per_day_cluster"] == pytest.approx(17e6 * 500 / 1e9)
    assert prod500["cores"] == pytest.approx(0.1)
    assert content_types(rs)["leases.renew"] == {"application/vnd.kubernetes.protobuf | x": 10}


def test_release_rows_put_each_family_on_each_release() -> None:
    from bench.report.growth import release_rows

    def res(policy: str, release: str, p99: float, repeat: int = 1) -> VariantResult:
        vid = f"{policy}.log.mixed.r100.k8s-{release}"
        return VariantResult.model_validate({
            "run_id": "s", "variant_id": vid, "repeat": repeat, "status": "ok",
            "variant": {"policy": policy, "profile": "mixed", "kubernetes": release, "load": {"mode": "open", "target_rps": 100}},
            "traffic": {"requests": 1000},
            "latency_client": {"overall": {"count": 1000, "p50_ms": 5.0, "p99_ms": p99}},
            "audit": {"log": {"bytes": 2_000_000}}})
    t = release_rows([res("metadata-all", "v1.36.3", 20.0), res("metadata-all", "v1.36.3", 30.0, 2),
                      res("metadata-all", "v1.37.2", 10.0)])
    assert t["curve"].tolist() == ["metadata-all.log.r100"] * 2
    assert t["release"].tolist() == ["v1.36.3", "v1.37.2"] and t["p99_ms"].tolist() == [25.0, 10.0]
    assert t["bytes_per_request"].tolist() == [2000.0, 2000.0] and t["repeats"].tolist() == [2, 1]


def test_soak_reference_is_the_baselines_heap_drift() -> None:
    from bench.report.growth import soak_reference

    def res(vid: str, base: bool, stretch: list | None) -> VariantResult:
        pts = [{"t": 100.0 + i, "heap_inuse_bytes": 1e8 + 1e6 * i} for i in range(60)]
        doc = {"run_id": "s", "variant_id": vid, "repeat": 1, "status": "ok",
               "variant": {"policy": "baseline" if base else "metadata-all", "profile": "mixed", "is_baseline": base,
                           "load": {"mode": "open", "target_rps": 100}},
               "window": {"start": 100.0, "end": 160.0, "duration_s": 60.0},
               "series": {"points": pts}}
        if stretch:
            doc["audit"] = {"webhook": {"fault_stretch": stretch}}
        return VariantResult.model_validate(doc)
    assert soak_reference([res("baseline.mixed.r100", True, None)]) == []  # no soak in the run
    (ref,) = soak_reference([res("baseline.mixed.r100", True, None), res("m.wh-batch-5s.mixed.r100", False, [110.0, 140.0])])
    assert ref["slope_per_min"] == pytest.approx(60e6) and ref["heap_first"] == 1e8 and ref["points"] == 60
