"""Growth collection axes, the per-second series and the growth figures (pure parts)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from bench.errors import InputError
from bench.logs.heads import Head, User
from bench.measure.base import Window
from bench.measure.growth import audit_by_kind, client_by_kind, growth_figures, kind_of
from bench.measure.series import backlog, connections, read_point, window_summary
from bench.scenario.loader import parse_scenario
from bench.scenario.matrix import expand

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "metrics"


def _scenario(**traffic: object) -> dict:
    return {"name": "g", "policies": ["metadata-all", "requestresponse-all"], "audit": {"log": {"enabled": [True]}},
            "traffic": {"profiles": ["objects"], "users": 2, "duration": "10s",
                        "objects": {"count": [100, 1000], "size_kb": [1, 16]}, **traffic},
            "timeseries": "1s"}


def test_objects_are_matrix_dimensions_with_one_baseline_per_collection() -> None:
    vs = expand(parse_scenario(_scenario()))
    ids = {v.id for v in vs}
    assert len(vs) == 2 * 4 + 4 == len(ids)
    assert "requestresponse-all.log.objects.n1000-s16k" in ids and "baseline.objects.n100-s1k" in ids
    v = next(v for v in vs if v.id == "metadata-all.log.objects.n1000-s1k")
    assert v.load.objects == (1000, 1.0) and v.series_interval_s == 1.0
    assert v.spec_dict()["load"]["objects_count"] == 1000


def test_a_profile_without_a_collection_gets_one_variant_per_load() -> None:
    vs = expand(parse_scenario(_scenario(profiles=["objects", "mixed"])))
    mixed = [v.id for v in vs if v.profile == "mixed"]
    assert sorted(mixed) == ["baseline.mixed", "metadata-all.log.mixed", "requestresponse-all.log.mixed"]
    assert all(v.load.objects is None for v in vs if v.profile == "mixed")


@pytest.mark.parametrize("objects, message", [
    ({"count": [20000], "size_kb": [100]}, "more than the 1024 MiB"),
    ({"count": [0], "size_kb": [1]}, "greater than or equal to 1"),
    ({"count": [10, 10], "size_kb": [1]}, "duplicate"),
    ({"count": [10], "size_kb": [2000]}, "less than or equal to 900"),
])
def test_bad_collections_name_the_field(objects: dict, message: str) -> None:
    with pytest.raises(InputError, match=message) as exc:
        parse_scenario(_scenario(objects=objects))
    assert "traffic.objects" in exc.value.line()


def test_objects_without_a_profile_that_reads_them_is_refused() -> None:
    with pytest.raises(InputError, match="no profile reads a collection"):
        parse_scenario(_scenario(profiles=["mixed"]))


def test_compare_pairs_a_variant_with_the_baseline_of_its_collection() -> None:
    from bench.analysis.compare import baseline_for, load_key

    rows = pd.DataFrame([
        {"variant_id": "baseline.objects.n100-s1k", "is_baseline": True, "profile": "objects", "mode": "closed",
         "objects_count": 100, "object_size_kb": 1.0},
        {"variant_id": "baseline.objects.n100-s16k", "is_baseline": True, "profile": "objects", "mode": "closed",
         "objects_count": 100, "object_size_kb": 16.0},
    ])
    key = load_key(pd.Series({"mode": "closed", "objects_count": 100, "object_size_kb": 16.0}))
    assert key == "closed|n100-s16k"
    assert baseline_for(rows, "objects", key) == "baseline.objects.n100-s16k"
    assert load_key(pd.Series({"mode": "open", "target_rps": 50.0})) == "r50"


# --- series -------------------------------------------------------------------------------
def test_a_point_reads_rss_and_audit_counters_from_a_real_scrape() -> None:
    text = (FIXTURES / "webhook-500-after.txt").read_text()  # a real apiserver's /metrics, filtered
    p = read_point(text)
    want = {line.split(" ")[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line.startswith(("process_resident_memory_bytes ", "apiserver_audit_event_total "))}
    assert p["rss_metric_bytes"] == int(want["process_resident_memory_bytes"]) > 0
    assert p["audit_events"] == int(want["apiserver_audit_event_total"]) > 0
    assert p["audit_errors"].get("webhook", 0) > 0  # the fixture's receiver answered 500
    assert p["heap_inuse_bytes"] is None  # not in this filtered fixture: None, never 0


def test_read_point_sums_label_sets_and_skips_comments() -> None:
    text = ('# HELP apiserver_audit_error_total x\napiserver_audit_error_total{plugin="buffered"} 7\n'
            'apiserver_audit_error_total{plugin="webhook"} 2\n'
            'apiserver_current_inflight_requests{request_kind="mutating"} 3\n'
            'apiserver_current_inflight_requests{request_kind="readOnly"} 4\n'
            'apiserver_audit_event_total 100\ngo_memstats_heap_inuse_bytes 1.2345678e+08\ngo_goroutines 512\n')
    p = read_point(text)
    assert p["heap_inuse_bytes"] == 123456780 and p["goroutines"] == 512
    assert p["audit_errors"] == {"buffered": 7, "webhook": 2}
    assert p["inflight"] == {"mutating": 3, "readOnly": 4}
    assert backlog({**p, "receiver_events": 80}) == 100 - 80 - 7 - 2
    assert backlog(p) is None  # no receiver: no backlog, not a guess


def _fake_proc(tmp_path: Path) -> Path:
    proc = tmp_path / "proc"
    (proc / "42" / "fd").mkdir(parents=True)
    (proc / "42" / "net").mkdir()
    for fd, inode in ((3, 1001), (4, 1002), (5, 1003), (6, 1004)):
        os.symlink(f"socket:[{inode}]", proc / "42" / "fd" / str(fd))
    os.symlink("/dev/null", proc / "42" / "fd" / "7")
    head = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    row = "   0: {l}:{lp:04X} {r}:{rp:04X} {st} 00000000:00000000 00:00000000 00000000     0        0 {inode} 1\n"
    lo = "0100007F"
    tcp = head + "".join(row.format(l=lo, lp=lp, r=lo, rp=rp, st=st, inode=ino) for lp, rp, st, ino in (
        (40000, 9443, "01", 1001),  # apiserver -> receiver, established
        (40001, 9443, "01", 1002),
        (40002, 9443, "06", 1003),  # TIME_WAIT: not open
        (40003, 2379, "01", 1004),  # to etcd
        (40004, 9443, "01", 9999),  # someone else's socket to the receiver
    ))
    (proc / "42" / "net" / "tcp").write_text(tcp)
    (proc / "42" / "net" / "tcp6").write_text(head)
    return proc


def test_connections_count_only_this_process_established_sockets_to_the_port(tmp_path: Path) -> None:
    proc = _fake_proc(tmp_path)
    assert connections(42, 9443, proc) == {"established": 3, "to_receiver": 2}
    assert connections(42, None, proc) == {"established": 3, "to_receiver": 0}
    assert connections(7, 9443, proc) == {"established": 0, "to_receiver": 0}


def test_window_summary_uses_points_inside_the_window_only() -> None:
    pts = [{"t": 9.0, "heap_inuse_bytes": 999}, {"t": 10.0, "heap_inuse_bytes": 100},
           {"t": 11.0, "heap_inuse_bytes": 300}, {"t": 12.0, "heap_inuse_bytes": None}, {"t": 20.5, "heap_inuse_bytes": 5}]
    s = window_summary(pts, Window(10.0, 20.0))
    assert s["points"] == 3
    assert s["heap_inuse_bytes"] == {"peak": 300.0, "mean": 200.0, "first": 100.0, "last": 300.0}
    assert s["receiver_connections"]["peak"] is None


# --- growth -------------------------------------------------------------------------------
def _head(verb: str, uri: str, ts: str, agent: str = "auditbench-traffic/1 (locust)") -> Head:
    return Head(level="Metadata", stage="ResponseComplete", verb=verb, requestURI=uri, user=User("u"),
                userAgent=agent, requestReceivedTimestamp=ts)


def test_audit_events_are_matched_to_kinds_by_verb_uri_namespace_agent_and_window() -> None:
    ns = "ab-1-bulk"
    base = f"/api/v1/namespaces/{ns}/configmaps"
    inside, outside = "1970-01-01T00:00:15.000000Z", "1970-01-01T00:00:25.000000Z"
    heads = [
        (_head("list", base, inside), 1000),
        (_head("list", base + "?limit=500", inside), 300),
        (_head("list", base + "?limit=500&continue=x", inside), 200),
        (_head("get", base + "/bulk-000001", inside), 10),
        (_head("watch", base + "?watch=true&resourceVersion=9", inside), 20),
        (_head("update", base + "/bulk-000002", inside), 40),
        (_head("list", base, outside), 5000),  # after the window
        (_head("list", base, inside, agent="auditbench-harness/1"), 7000),  # the harness's set-up LIST
        (_head("list", "/api/v1/namespaces/ab-1-production/configmaps", inside), 9000),  # another namespace
    ]
    got = audit_by_kind(heads, ns, Window(10.0, 20.0))
    assert got == {"bulk.get": {"events": 1, "bytes": 10}, "bulk.list": {"events": 1, "bytes": 1000},
                   "bulk.listpaged": {"events": 2, "bytes": 500}, "bulk.update": {"events": 1, "bytes": 40},
                   "bulk.watch": {"events": 1, "bytes": 20}}
    assert kind_of("delete", base) is None


def test_growth_figures_divide_audit_bytes_by_the_kinds_own_requests() -> None:
    df = pd.DataFrame({
        "t": [11.0, 12.0, 13.0, 14.0, 30.0], "cls": ["bulk.list", "bulk.list", "bulk.get", "mixed.x", "bulk.list"],
        "method": ["GET"] * 5, "ms": [100.0, 300.0, 2.0, 1.0, 5.0], "status": [200, 500, 200, 200, 200],
        "bytes": [10_000, 0, 50, 1, 1], "ok": [1, 0, 1, 1, 1], "lag_ms": [0.0] * 5,
    })
    client = client_by_kind(df, Window(10.0, 20.0))
    assert client["bulk.list"]["requests"] == 2 and client["bulk.list"]["failures"] == 1
    assert client["bulk.list"]["p99_ms"] == 100.0 and client["bulk.list"]["response_bytes_mean"] == 10_000
    assert "mixed.x" not in client
    fig = growth_figures({"count": 10}, client, {"bulk.list": {"events": 2, "bytes": 8000}})
    assert fig["by_kind"]["bulk.list"]["audit_bytes_per_request"] == 4000
    assert fig["by_kind"]["bulk.get"]["audit_bytes"] == 0 and fig["audit_source"] == "log"
    assert growth_figures({}, client, None)["by_kind"]["bulk.list"].get("audit_bytes") is None


def test_metrics_and_proc_points_merge_without_copying_values() -> None:
    from bench.measure.series import merge_points

    merged = merge_points([{"t": 2.0, "heap_inuse_bytes": 5}], [{"t": 1.0, "rss_bytes": 7}, {"t": 3.0, "rss_bytes": 8}])
    assert [p["t"] for p in merged] == [1.0, 2.0, 3.0]
    assert merged[0] == {"t": 1.0, "rss_bytes": 7, "heap_inuse_bytes": None}
    assert merged[1]["rss_bytes"] is None and merged[1]["heap_inuse_bytes"] == 5
