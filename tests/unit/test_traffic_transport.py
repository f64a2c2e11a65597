"""Worker -> master transport of samples and canaries (the pure half; the Locust path runs in
tests/integration/test_traffic_remote_workers.py)."""

from __future__ import annotations

import json
import random
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bench.traffic import transport
from bench.traffic.canary import CanaryFile, read_canaries
from bench.traffic.recorder import SampleWriter, Tally, format_row
from bench.traffic.samples import merge_sample_files, read_samples, summarize

KEY = "join-key-for-tests"


def _rows(n: int, seed: int) -> list[tuple[float, str, str, float, int, int, bool, float]]:
    """Sample rows as the locustfile records them, the open-loop lag (ms) last."""
    rng = random.Random(seed)
    classes = ["pods.get", "pods.list", "secrets.get", "configmaps.create"]
    return [(1_800_000_000.0 + i * 0.003 + rng.random() * 1e-3, rng.choice(classes), rng.choice(["GET", "POST"]),
             rng.lognormvariate(1.0, 0.7), rng.choice([200, 201, 403]), rng.randint(0, 5000), rng.random() > 0.05,
             rng.random() * 3.0)
            for i in range(n)]


@pytest.fixture
def master(tmp_path: Path) -> tuple[transport.Collector, dict[str, Any]]:
    (tmp_path / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    (tmp_path / "identities.json").write_text(json.dumps({"admin": {"token": "t0k3n"}}))
    (tmp_path / "run").mkdir()
    config = {"server": "https://127.0.0.1:6443", "ca_file": str(tmp_path / "ca.crt"),
              "identities_file": str(tmp_path / "identities.json"), "samples_dir": str(tmp_path / "run"),
              "canary_path": str(tmp_path / "run" / "canaries.txt"), "join_key": KEY, "profile": "mixed",
              "workers": 2, "seed": 1}
    collector = transport.Collector(config, CanaryFile(config["canary_path"]), expected=2)
    return collector, config


def _wire(collector: transport.Collector, node: str, drop: Callable[[str, dict[str, Any]], bool] = lambda t, d: False
          ) -> transport.Send:
    """A channel to the collector that can lose messages; messages are copied as msgpack would."""
    handlers = {transport.MSG_SAMPLES: collector.on_samples, transport.MSG_CANARIES: collector.on_canaries,
                transport.MSG_PROGRESS: collector.on_progress, transport.MSG_DONE: collector.on_done}

    def send(msg_type: str, data: dict[str, Any]) -> None:
        if not drop(msg_type, data):
            handlers[msg_type](node, json.loads(json.dumps(data)))

    return send


def _work(collector: transport.Collector, node: str, rows: list, send: transport.Send, chunk: int = 100,
          done: bool = True) -> tuple[transport.Outbox, transport.ChannelCanaries]:
    proc = collector.on_config(f"{node}-bootstrap", transport.config_request(KEY))["proc"]
    outbox, canaries = transport.Outbox(proc, send, chunk_rows=chunk), transport.ChannelCanaries(proc, send)
    for i, row in enumerate(rows):
        outbox.add(*row)
        if i % 50 == 0:
            canaries.new(2)
        if i % 70 == 0:
            send(transport.MSG_PROGRESS, {"proc": proc, "recorded": outbox.count, "canaries": canaries.count,
                                          "now": row[0], "record_from": rows[0][0], "record_to": rows[-1][0] + 1,
                                          "host": "h", "pid": 1, "warmup": 3})
    if done:
        outbox.close()
        send(transport.MSG_DONE, {"proc": proc, "recorded": outbox.count, "tally": outbox.tally.as_dict(),
                                  "canaries": canaries.count, "record_from": rows[0][0], "record_to": rows[-1][0] + 1,
                                  "host": "h", "pid": 1, "warmup": 3, "late_slots": 0, "cpu_s": 0.5})
    return outbox, canaries


def test_outbox_ships_bounded_chunks_in_order_with_exact_floats() -> None:
    sent: list[tuple[str, dict[str, Any]]] = []
    outbox = transport.Outbox(3, lambda t, d: sent.append((t, d)), chunk_rows=2)
    rows = _rows(5, seed=1)
    for row in rows:
        outbox.add(*row)
    assert [d["seq"] for _, d in sent] == [1, 2] and all(len(d["rows"]) == 2 for _, d in sent)
    outbox.close()
    outbox.add(*rows[0])  # after close nothing is taken
    assert [(d["seq"], d["upto"], len(d["rows"])) for _, d in sent] == [(1, 2, 2), (2, 4, 2), (3, 5, 1)]
    assert [tuple(r) for _, d in sent for r in d["rows"]] == rows
    assert outbox.count == 5 and outbox.shipped == 5


def test_merged_worker_samples_equal_single_process_samples(master, tmp_path: Path) -> None:
    collector, _ = master
    a, b = _rows(730, seed=2), _rows(410, seed=3)
    _work(collector, "node-a", a, _wire(collector, "node-a"))
    _work(collector, "node-b", b, _wire(collector, "node-b"), chunk=64)
    assert collector.accounted(lambda node: True)
    report = collector.finish()
    assert [w["verified"] for w in report["workers"]] == [True, True]
    run = Path(collector.samples_dir)
    merged = merge_sample_files([run / "samples-1.csv", run / "samples-2.csv"], tmp_path / "merged.csv.gz")
    # The single-process code path on the same requests: one SampleWriter, then the same merge.
    single = SampleWriter(tmp_path / "single.csv")
    for row in a + b:
        single.add(*row)
    single.close()
    alone = merge_sample_files([tmp_path / "single.csv"], tmp_path / "single.csv.gz")
    assert len(merged) == len(a) + len(b)
    assert merged.equals(alone)
    assert summarize(merged) == summarize(alone)
    assert (tmp_path / "merged.csv.gz").read_bytes() == (tmp_path / "single.csv.gz").read_bytes()
    procs = [json.loads((run / f"proc-{i}.json").read_text()) for i in (1, 2)]
    assert [p["recorded"] for p in procs] == [730, 410] and [p["samples"] for p in procs] == ["samples-1.csv", "samples-2.csv"]
    assert all(p["transport"]["state"] == "done" for p in procs)


def test_canaries_reach_the_master_file_and_no_report(master) -> None:
    collector, config = master
    _, canaries = _work(collector, "node-a", _rows(120, seed=4), _wire(collector, "node-a"))
    report = collector.finish()
    written = read_canaries(config["canary_path"])
    assert len(written) == canaries.count == 6
    assert stat.S_IMODE(Path(config["canary_path"]).stat().st_mode) == 0o600
    text = json.dumps(report) + Path(collector.samples_dir, "proc-1.json").read_text() + transport.dumps(report)
    assert not any(c in text for c in written)


def test_a_resent_chunk_counts_once(master) -> None:
    collector, _ = master
    wire = _wire(collector, "node-a")
    seen: list[dict[str, Any]] = []

    def twice(msg_type: str, data: dict[str, Any]) -> None:
        wire(msg_type, data)
        if msg_type == transport.MSG_SAMPLES and not seen:
            seen.append(data)
            wire(msg_type, data)

    _work(collector, "node-a", _rows(300, seed=5), twice)
    (w,) = collector.finish()["workers"]
    assert w["verified"] and w["duplicate_chunks"] == 1 and w["received"] == 300


def test_a_chunk_lost_in_transit_fails_verification(master) -> None:
    collector, _ = master
    drop = lambda t, d: t == transport.MSG_SAMPLES and d["seq"] == 2  # noqa: E731
    _work(collector, "node-a", _rows(300, seed=6), _wire(collector, "node-a", drop))
    (w,) = collector.finish()["workers"]
    assert not w["verified"]
    assert w["mismatch"]["sent"]["count"] == 300 and w["mismatch"]["received"]["count"] == 200


def test_a_worker_that_disappears_is_reported_with_what_it_lost(master) -> None:
    collector, _ = master
    _work(collector, "node-a", _rows(500, seed=7), _wire(collector, "node-a"))
    # node-b dies: its last chunks and its done never arrive, but its progress reports did.
    drop = lambda t, d: t == transport.MSG_SAMPLES and d["seq"] >= 3  # noqa: E731
    outbox, canaries = _work(collector, "node-b", _rows(450, seed=8), _wire(collector, "node-b", drop), done=False)
    assert not collector.accounted(lambda node: True)  # still connected: wait for it
    assert collector.accounted(lambda node: node != "node-b")
    report = collector.finish()
    a, b = report["workers"]
    assert a["state"] == "done" and a["verified"]
    assert b["state"] == "lost" and b["received"] == 200
    assert b["reported"] == 421  # its last progress report (every 70 rows: 0, 70, ..., 420) said 421 recorded
    assert b["lost_samples_at_least"] == 221
    assert b["canaries_received"] == b["canaries_reported"] == canaries.count
    proc = json.loads(Path(collector.samples_dir, "proc-2.json").read_text())
    assert proc["recorded"] == 200 and proc["record_to"] is not None and proc["transport"]["state"] == "lost"
    assert len(read_samples([Path(collector.samples_dir) / "samples-2.csv"])) == 200


def test_a_worker_assigned_but_never_connected_holds_the_end_until_finish(master) -> None:
    collector, _ = master
    _work(collector, "node-a", _rows(50, seed=9), _wire(collector, "node-a"))
    collector.on_config("ghost-bootstrap", transport.config_request(KEY))
    assert not collector.accounted(lambda node: False)
    ghost = collector.finish()["workers"][1]
    assert ghost["state"] == "lost" and ghost["connected"] is False and ghost["received"] == 0


def test_config_requests(master, tmp_path: Path) -> None:
    collector, config = master
    assert "error" in collector.on_config("x", {"join_key": "wrong"}) and collector.refused == 1
    assert "error" in collector.on_config("x", {})
    first = collector.on_config("boot-1", transport.config_request(KEY))
    assert collector.on_config("boot-1", transport.config_request(KEY))["proc"] == first["proc"] == 1
    assert collector.on_config("boot-2", transport.config_request(KEY))["proc"] == 2
    for key in ("samples_dir", "canary_path", "join_key", "ca_file", "identities_file"):
        assert key not in first
    installed = transport.install_worker_config(first, tmp_path / "w" / "run", server="https://127.0.0.1:16443")
    assert installed["server"] == "https://127.0.0.1:16443" and installed["proc"] == 1
    assert Path(installed["identities_file"]).read_text() == Path(config["identities_file"]).read_text()
    assert Path(installed["ca_file"]).read_text() == Path(config["ca_file"]).read_text()
    for name in ("identities_file", "ca_file"):
        assert stat.S_IMODE(Path(installed[name]).stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "w" / "run").stat().st_mode) == 0o700
    assert abs(installed["clock_offset_s"]) < 5
    with pytest.raises(transport.ConfigError, match="wrong join key"):
        transport.install_worker_config(collector.on_config("x", {"join_key": "no"}), tmp_path / "w2")
    collector.finish()
    assert "error" in collector.on_config("boot-3", transport.config_request(KEY))


def test_tally_is_order_independent_and_sensitive() -> None:
    rows = [format_row(*r) for r in _rows(50, seed=10)]
    a, b, c = Tally(), Tally(), Tally()
    for r in rows:
        a.add(r)
    for r in reversed(rows):
        b.add(r)
    for r in rows[:-1] + [rows[0]]:
        c.add(r)
    assert a.as_dict() == b.as_dict()
    assert a.as_dict()["digest"] != c.as_dict()["digest"]
