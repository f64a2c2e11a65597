"""`logs scan`: DuckDB's answers against a plain-Python reference over the same events."""

from __future__ import annotations

import gzip
import json
import shutil
from collections import defaultdict
from pathlib import Path

import pytest

from bench.errors import InputError
from bench.logs import reader, scan, synth

FIXTURES = Path(__file__).parent.parent / "fixtures" / "logs"


def _resource_key(ev: dict) -> str:
    obj = ev.get("objectRef") if isinstance(ev.get("objectRef"), dict) else {}
    res = obj.get("resource")
    if not res:
        return (ev.get("requestURI") or "(none)").split("?")[0]
    key = res
    if obj.get("apiGroup"):
        key += "." + obj["apiGroup"]
    if obj.get("subresource"):
        key += "/" + obj["subresource"]
    return key


def _user_kind(ev: dict) -> str:
    user = ev.get("user") if isinstance(ev.get("user"), dict) else {}
    name = user.get("username")
    if name is None:
        return "unknown"
    name = str(name)
    if name.startswith("system:serviceaccount:"):
        return "service account"
    return "system" if name.startswith("system:") else "human"


def reference(sources: list[reader.Source]) -> dict[str, dict[str, tuple[int, int]]]:
    """Independent Python computation of the scan's breakdowns."""
    out: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for ev, nbytes in reader.iter_events(sources):
        user = ev.get("user") if isinstance(ev.get("user"), dict) else {}
        keys = {
            "level": ev.get("level") or "(none)",
            "stage": ev.get("stage") or "(none)",
            "verb": ev.get("verb") or "(none)",
            "resource": _resource_key(ev),
            "user_kind": _user_kind(ev),
            "user": str(user["username"]) if user.get("username") is not None else "(none)",
        }
        for dim, key in keys.items():
            out[dim][key][0] += 1
            out[dim][key][1] += nbytes
    return {dim: {k: (v[0], v[1]) for k, v in d.items()} for dim, d in out.items()}


def as_map(res: scan.ScanResult) -> dict[str, dict[str, tuple[int, int]]]:
    m = {dim: {r.key: (r.events, r.bytes) for r in rows} for dim, rows in res.by.items()}
    m["user"] = {r.key: (r.events, r.bytes) for r in res.top_users}
    return m


def test_fixture_log_matches_python_reference() -> None:
    # The fixture has sorted-key events, a user.extra key named responseStatus (the
    # fast path's cut lands inside an object) and a blank line: the fallbacks must agree.
    sources = reader.expand([FIXTURES / "detect-cases.log"])
    res = scan.scan(sources, top=1000)
    assert as_map(res) == reference(sources)
    assert res.events == 28
    assert res.bytes == (FIXTURES / "detect-cases.log").stat().st_size - 1  # minus the blank line


def test_synthetic_log_matches_python_reference(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    written, events = synth.write_log(path, 3_000_000, seed=7)
    sources = reader.expand([path])
    res = scan.scan(sources, top=1000)
    assert (res.events, res.bytes) == (events, written)
    assert as_map(res) == reference(sources)


def test_rotated_gzip_and_directory(tmp_path: Path) -> None:
    # A log directory as the apiserver leaves it: current file, a plain and a gzipped backup.
    src = (FIXTURES / "detect-cases.log").read_bytes()
    logdir = tmp_path / "audit"
    logdir.mkdir()
    (logdir / "audit.log").write_bytes(src)
    (logdir / "audit-2026-02-22T10-15-30.123.log").write_bytes(src)
    with gzip.open(logdir / "audit-2026-02-21T09-00-00.000.log.gz", "wb") as fh:
        fh.write(src)
    (logdir / "README.txt").write_text("not a log")
    sources = reader.expand([logdir])
    assert [s.path.name for s in sources] == [
        "audit-2026-02-21T09-00-00.000.log.gz", "audit-2026-02-22T10-15-30.123.log", "audit.log"]
    assert [s.compressed for s in sources] == [True, False, False]
    res = scan.scan(sources, top=1000)
    single = scan.scan(reader.expand([FIXTURES / "detect-cases.log"]), top=1000)
    assert res.events == 3 * single.events
    assert res.bytes == 3 * single.bytes
    assert as_map(res) == reference(sources)


def test_webhook_capture_and_eventlist() -> None:
    hook = reader.classify(FIXTURES / "capture.webhook.jsonl")
    doc = reader.classify(FIXTURES / "eventlist.json")
    assert hook.kind is reader.SourceKind.WEBHOOK
    assert doc.kind is reader.SourceKind.DOCUMENT
    res = scan.scan([hook, doc], top=1000)
    assert res.events == 18 + 9
    lines = [json.loads(x) for x in (FIXTURES / "capture.webhook.jsonl").read_text().splitlines()]
    assert res.webhook == {"batches": 2, "received_bytes": sum(x["bytes"] for x in lines)}
    ref = reference([hook, doc])
    got = as_map(res)
    assert got == ref


def test_line_longer_than_fast_buffer(tmp_path: Path) -> None:
    # 17 MB: longer than the fast reader's 16 MB line limit, so the big-buffer retry runs.
    path = tmp_path / "big.log"
    small = (FIXTURES / "detect-cases.log").read_text().splitlines()[0]
    ev = json.loads(small)
    ev["responseObject"] = {"kind": "ConfigMap", "data": {"blob": "x" * (17 << 20)}}
    path.write_text(small + "\n" + json.dumps(ev, separators=(",", ":")) + "\n" + small + "\n")
    res = scan.scan(reader.expand([path]))
    assert res.events == 3
    assert res.bytes == path.stat().st_size


def test_bad_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    good = (FIXTURES / "detect-cases.log").read_text().splitlines()[0]
    path.write_text(good + "\n" + good[:40] + "\n")
    with pytest.raises(InputError) as exc:
        scan.scan(reader.expand([path]))
    assert str(path) in exc.value.line() and "line 2" in exc.value.line()


def test_missing_file_and_empty_dir(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        reader.expand([tmp_path / "nope.log"])
    with pytest.raises(InputError):
        reader.expand([tmp_path])


def test_empty_log(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    path.write_text("")
    res = scan.scan(reader.expand([path]))
    assert (res.events, res.bytes) == (0, 0)
    assert all(rows == [] for rows in res.by.values())


def test_cli_json(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from bench.logs import cli

    shutil.copy(FIXTURES / "detect-cases.log", tmp_path / "audit.log")
    result = CliRunner().invoke(cli.app, ["scan", str(tmp_path / "audit.log"), "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["events"] == 28
    assert {r["key"] for r in doc["by"]["user_kind"]} == {"human", "service account", "system", "unknown"}


def test_webhook_bytes_are_the_apiservers_line_bytes(tmp_path: Path) -> None:
    # Events the real apiserver wrote (with <, > and & escaped as Go does), re-batched as
    # the receiver stores them: each event's size must be its log line's size, exactly.
    log = FIXTURES / "whatif-capture.log"
    lines = log.read_text(encoding="utf-8").splitlines()
    assert any("\\u003c" in line for line in lines)
    events = [json.loads(line) for line in lines]
    capture = tmp_path / "run.webhook.jsonl"
    with capture.open("w", encoding="utf-8") as fh:
        for i in range(0, len(events), 7):
            fh.write(json.dumps({"received_at": 1.0 + i, "bytes": 0, "events": events[i:i + 7]}) + "\n")
    res = scan.scan(reader.expand([capture]))
    assert (res.events, res.bytes) == (len(lines), log.stat().st_size)
    assert sum(n for _, n in reader.iter_events(reader.expand([capture]))) == log.stat().st_size
