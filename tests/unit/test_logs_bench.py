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
    report = benchmark.run_benchmark(2_000_000, directory=tmp_path, keep=True, seed=2, jq=jq, repeat=1)
    assert [log["kind"] for log in report["logs"]] == ["small", "bodies"]
    for log in report["logs"]:
        names = [q["name"] for q in log["queries"]]
        assert names == [q.name for q in benchmark.queries()] + [benchmark.END_TO_END]
        assert all(q["answers_agree"] for q in log["queries"]), [q["name"] for q in log["queries"] if not q["answers_agree"]]
        assert (tmp_path / f"audit-{log['kind']}.log").stat().st_size == log["bytes"]
        e2e = log["queries"][-1]
        assert e2e["command"] == "auditbench logs detect FILE" and e2e["jq_program"].count("jq -c") == 3
        assert e2e["auditbench_cpu_seconds"] > 0 and e2e["jq_cpu_seconds"] > 0


def test_the_two_kinds_of_log(tmp_path: Path) -> None:
    small, bodies = tmp_path / "small.log", tmp_path / "bodies.log"
    synth.write_log(small, 2_000_000, seed=4, profile="small")
    synth.write_log(bodies, 2_000_000, seed=4, profile="bodies")
    levels = {path: {json.loads(line)["level"] for line in path.read_text().splitlines()} for path in (small, bodies)}
    assert levels[small] == {"Metadata", "Request"}
    assert levels[bodies] == {"Metadata", "Request", "RequestResponse"}
    mean = {p: p.stat().st_size / len(p.read_text().splitlines()) for p in (small, bodies)}
    assert 700 < mean[small] < 1300 and mean[bodies] > 1.5 * mean[small]


def test_end_to_end_alone(jq: str, tmp_path: Path) -> None:
    report = benchmark.run_benchmark(500_000, directory=tmp_path, seed=3, jq=jq, repeat=1,
                                     queries=[benchmark.END_TO_END], kinds=["small"])
    (log,) = report["logs"]
    assert [q["name"] for q in log["queries"]] == [benchmark.END_TO_END] and log["queries"][0]["answers_agree"]
    assert not list(tmp_path.iterdir())  # the log is removed unless --keep


def test_unknown_query_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        benchmark.run_benchmark(1000, directory=tmp_path, queries=["nope"])
