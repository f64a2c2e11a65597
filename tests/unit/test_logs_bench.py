"""The synthetic log generator and `logs bench` (answers only: timings are printed, not tested)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.errors import InputError
from bench.logs import benchmark, synth

GO_ORDER = ["kind", "apiVersion", "level", "auditID", "stage", "requestURI", "verb", "user", "impersonatedUser",
            "sourceIPs", "userAgent", "objectRef", "responseStatus", "requestObject", "responseObject",
            "requestReceivedTimestamp", "stageTimestamp", "annotations"]


def test_synthetic_log_is_deterministic_and_realistic(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.log", tmp_path / "b.log", tmp_path / "c.log"
    wa = synth.write_log(a, 2_000_000, seed=5)
    synth.write_log(b, 2_000_000, seed=5)
    synth.write_log(c, 2_000_000, seed=6)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    assert wa[0] == a.stat().st_size >= 2_000_000
    levels, stages, bodies = set(), set(), 0
    lines = a.read_text().splitlines()
    assert len(lines) == wa[1]
    for line in lines:
        ev = json.loads(line)
        keys = list(ev)
        assert keys == [k for k in GO_ORDER if k in ev], keys  # the apiserver's field order
        levels.add(ev["level"])
        stages.add(ev["stage"])
        if ev["stage"] == "RequestReceived":
            assert "requestObject" not in ev and "responseStatus" not in ev
        if "requestObject" in ev:
            assert ev["level"] in ("Request", "RequestResponse")
        if "responseObject" in ev:
            assert ev["level"] == "RequestResponse"
            bodies += 1
    assert levels == {"Metadata", "Request", "RequestResponse"}
    assert stages == {"RequestReceived", "ResponseStarted", "ResponseComplete"}
    assert bodies > 0


def test_parse_size() -> None:
    assert benchmark.parse_size("1GB") == 10**9
    assert benchmark.parse_size("200 MB") == 200 * 10**6
    assert benchmark.parse_size("1GiB") == 2**30
    assert benchmark.parse_size("5000") == 5000
    for bad in ("", "1TB", "-1MB", "0"):
        with pytest.raises(InputError):
            benchmark.parse_size(bad)


def test_every_query_agrees_with_its_jq_form(jq: str, tmp_path: Path) -> None:
    report = benchmark.run_benchmark(2_000_000, directory=tmp_path, keep=True, seed=2, jq=jq)
    assert [q["name"] for q in report["queries"]] == [q.name for q in benchmark.queries()]
    assert all(q["answers_agree"] for q in report["queries"]), [q["name"] for q in report["queries"] if not q["answers_agree"]]
    assert (tmp_path / "audit.log").stat().st_size == report["bytes"]


def test_unknown_query_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        benchmark.run_benchmark(1000, directory=tmp_path, queries=["nope"])
