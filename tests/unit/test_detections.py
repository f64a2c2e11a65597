"""Detections as data: the article's set selects what the article's jq selects, every operator
means what its jq rendering means (checked with the real jq), the SQL form agrees, and bad
files fail with one line naming the file and the field."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from bench.detections import load_detections, parse_detections
from bench.detections.fields import parse_field
from bench.errors import InputError
from bench.logs import reader, synth

FIXTURES = Path(__file__).parent.parent / "fixtures" / "logs"
JQ = shutil.which("jq")
needs_jq = pytest.mark.skipif(JQ is None, reason="jq is not installed (apt-get install -y jq)")

# The reference article's expressions, verbatim (as in test_logs_detect.py).
ARTICLE = {
    "secrets-read-by-non-serviceaccount": 'select(.objectRef.resource == "secrets" and .verb == "get" and '
                                          '(.user.username | startswith("system:serviceaccount:") | not))',
    "clusterrolebinding-to-cluster-admin": 'select(.objectRef.resource == "clusterrolebindings" and '
                                           '.verb == "create" and .requestObject.roleRef.name == "cluster-admin")',
    "exec-in-production": 'select(.objectRef.resource == "pods" and .objectRef.subresource == "exec" and '
                          '.objectRef.namespace == "production")',
}


def run_jq(expr: str, path: Path) -> list[int]:
    """Line numbers (0-based) jq selects; each input carries its number in .auditID."""
    proc = subprocess.run([JQ, "-c", expr + " | .auditID", str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode in (0, 5), proc.stderr  # 5: some inputs raised a jq error; jq goes on
    return [int(json.loads(line).rsplit("-", 1)[-1]) for line in proc.stdout.splitlines()]


def numbered(events: list, path: Path) -> Path:
    lines = []
    for i, ev in enumerate(events):
        ev = dict(ev) if isinstance(ev, dict) else ev
        if isinstance(ev, dict):
            ev["auditID"] = f"ev-{i}"
        lines.append(json.dumps(ev))
    path.write_text("\n".join(lines) + "\n")
    return path


def ours(dets, events: list) -> dict[str, list[int]]:
    return {d.name: [i for i, ev in enumerate(events) if isinstance(ev, dict) and d.matches(ev)] for d in dets}


def _events(path: Path) -> list:
    return [ev for ev, _ in reader.iter_events(reader.expand([path]))]


@needs_jq
@pytest.mark.parametrize("source", ["detect-cases", "synthetic", "whatif-capture"])
def test_article_set_selects_what_the_article_jq_selects(source: str, tmp_path: Path) -> None:
    if source == "synthetic":
        raw = tmp_path / "synth.log"
        synth.write_log(raw, 1_500_000, seed=5)
        events = _events(raw)
    else:
        events = _events(FIXTURES / f"{source}.log")
    path = numbered(events, tmp_path / "numbered.log")
    dets = load_detections("article")
    got = ours(dets, events)
    for d in dets:
        assert got[d.name] == run_jq(ARTICLE[d.name], path), d.name
        assert got[d.name] == run_jq(d.expression(), path), d.name  # our own rendering too
    if source != "whatif-capture":
        assert all(got.values()), got  # each detection finds something there


# Values of every JSON type, and absent/null, for one field.
_VALUES = [None, "secrets", "system:serviceaccount:a:b", "bob-production", "", 7, 7.0, 403, 199, True, False,
           ["system:masters", "dev"], ["dev"], [], {"name": "cluster-admin"}, "x<&>y", "Sécrets"]
_OPERATORS = [
    ("equals", "secrets"), ("equals", 7), ("equals", True), ("equals", None), ("not_equals", "secrets"),
    ("in", ["secrets", 403]), ("not_in", ["secrets", None]), ("startswith", "system:"), ("not_startswith", "system:"),
    ("endswith", "-production"), ("not_endswith", "-production"), ("contains", "dev"), ("contains", "ret"),
    ("matches", "^[a-z]+$"), ("exists", True), ("exists", False), ("gte", 400), ("lte", 199.5),
]


@needs_jq
@pytest.mark.parametrize("field", ["verb", "requestObject.spec.x", "annotations['a.b/c']"])
def test_every_operator_means_its_jq(field: str, tmp_path: Path) -> None:
    path = parse_field(field)
    events: list = [{}]  # the field absent
    for v in _VALUES:
        doc: dict = {}
        cur = doc
        for key in path.keys[:-1]:
            cur = cur.setdefault(key, {})
        cur[path.keys[-1]] = v
        events.append(doc)
    if len(path.keys) > 1:
        events.append({path.keys[0]: "not an object"})  # indexing a string: a jq error
    file = numbered(events, tmp_path / "ops.log")
    for op, arg in _OPERATORS:
        (det,) = parse_detections({"version": 1, "detections": [
            {"name": "t", "title": "t", "match": [{"field": field, op: arg}]}]})
        want = run_jq(det.expression(), file)
        assert ours([det], events)["t"] == want, (field, op, arg, det.expression())


def _sql_set() -> list:
    return parse_detections({"version": 1, "detections": [
        {"name": "secrets-read-by-non-serviceaccount", "title": "t",
         "reads": ["objectRef.resource", "verb", "user.username"],
         "where": "\"objectRef.resource\" = 'secrets' AND verb = 'get' AND "
                  "NOT starts_with(\"user.username\", 'system:serviceaccount:')"},
        {"name": "clusterrolebinding-to-cluster-admin", "title": "t",
         "reads": ["objectRef.resource", "verb", "requestObject.roleRef.name"],
         "where": "\"objectRef.resource\" = 'clusterrolebindings' AND verb = 'create' AND "
                  "\"requestObject.roleRef.name\" = 'cluster-admin'"},
        {"name": "exec-in-production", "title": "t",
         "reads": ["objectRef.resource", "objectRef.subresource", "objectRef.namespace"],
         "where": "\"objectRef.resource\" = 'pods' AND \"objectRef.subresource\" = 'exec' AND "
                  "\"objectRef.namespace\" = 'production'"},
    ]}, "sql.yaml")


def test_sql_form_agrees_with_the_operator_form(tmp_path: Path) -> None:
    raw = tmp_path / "synth.log"
    synth.write_log(raw, 1_000_000, seed=9)
    events = _events(raw) + _events(FIXTURES / "whatif-capture.log")
    sql, article = _sql_set(), load_detections("article")
    # evaluate in one batch per detection, as coverage does
    got = {d.name: [i for i, hit in enumerate(d.evaluate([d.values(e) for e in events])) if hit] for d in sql}
    assert got == ours(article, events)
    assert all(got.values())


def test_sql_types_and_could() -> None:
    (det,) = parse_detections({"version": 1, "detections": [{
        "name": "refused", "title": "t", "reads": ["responseStatus.code", "user.groups", "requestObject.spec.replicas"],
        "where": "\"responseStatus.code\" >= 400 AND list_contains(\"user.groups\", 'dev') AND "
                 "TRY_CAST(\"requestObject.spec.replicas\" AS INTEGER) > 2"}]})
    rows = [(403, ["dev"], 3), (200, ["dev"], 3), (403, ["ops"], 3), (403, ["dev"], "3"), (403, ["dev"], {"a": 1}),
            (None, ["dev"], 3)]
    assert det.evaluate(rows) == [True, False, False, True, False, False]
    # could: unknown (None) values may be anything
    assert det.evaluate([(None, None, None), (200, None, None)], could=True) == [True, False]


@pytest.mark.parametrize("doc, where, says", [
    ({"version": 2, "detections": [{"name": "a", "title": "t", "match": [{"field": "verb", "equals": "get"}]}]},
     "version", "1"),
    ({"version": 1, "detections": []}, "detections", "at least 1"),
    ({"version": 1, "detections": [{"name": "Bad Name", "title": "t", "match": [{"field": "verb", "equals": "get"}]}]},
     "detections[0].name", "lowercase"),
    ({"version": 1, "detections": [{"name": "a", "title": "t", "match": [{"field": "verb", "equal": "get"}]}]},
     "detections[0].match[0]", "unknown key 'equal'"),
    ({"version": 1, "detections": [{"name": "a", "title": "t", "match": [{"field": "objectref.resource", "equals": "x"}]}]},
     "detections[0].match[0]", "not a field of an audit.k8s.io/v1 Event"),
    ({"version": 1, "detections": [{"name": "a", "title": "t", "match": [{"field": "level", "equals": "Metadata"}]}]},
     "detections[0].match[0]", "the level is what the policy chooses"),
    ({"version": 1, "detections": [{"name": "a", "title": "t", "match": [{"field": "verb", "matches": "("}]}]},
     "detections[0].match[0]", "regular expression"),
    ({"version": 1, "detections": [{"name": "a", "title": "t", "match": [{"field": "verb", "in": []}]}]},
     "detections[0].match[0]", "non-empty list"),
    ({"version": 1, "detections": [{"name": "a", "title": "t", "where": "verb = 'get'"}]},
     "detections[0]", "declare the fields it reads"),
    ({"version": 1, "detections": [{"name": "a", "title": "t", "reads": ["verb"], "where": "nope = 1"}]},
     "detections[0].where", "not found"),
    ({"version": 1, "detections": [{"name": "a", "title": "t", "reads": ["verb", "user.username"], "where": "verb = 'get'"}]},
     "detections[0].where", "never uses it"),
    ({"version": 1, "detections": [{"name": "a", "title": "t", "reads": ["verb"], "where": "verb"}]},
     "detections[0].where", "must be a condition"),
    ({"version": 1, "detections": [{"name": "a", "title": "t", "reads": ["verb"], "where": "verb = 'a'; DROP TABLE t"}]},
     "detections[0].where", "syntax error"),
    ({"version": 1, "detections": [{"name": "a", "title": "t", "match": [{"field": "verb", "equals": "get"}],
                                    "where": "verb = 'get'"}]}, "detections[0]", "not both"),
    ({"version": 1, "detections": [{"name": "a", "title": "t", "match": [{"field": "verb", "equals": "get"}],
                                    "stages": ["Done"]}]}, "detections[0].stages[0]", "ResponseComplete"),
    ({"version": 1, "detections": [{"name": "a", "title": "t", "match": [{"field": "verb", "equals": "get"}]},
                                   {"name": "a", "title": "u", "match": [{"field": "verb", "equals": "list"}]}]},
     None, "two detections are named 'a'"),
])
def test_bad_files_name_the_field(doc: dict, where: str | None, says: str) -> None:
    with pytest.raises(InputError) as info:
        parse_detections(doc, "mine.yaml")
    err = info.value
    assert err.where == "mine.yaml"
    assert err.field == where, err.line()
    assert says in err.reason, err.line()
    assert "\n" not in err.line()


def run_main(args: list[str], capsys, monkeypatch) -> tuple[int, str, str]:
    """bench.cli.main in-process (a fresh interpreter costs seconds on a busy machine)."""
    import sys

    from bench import cli

    monkeypatch.setattr(sys, "argv", ["auditbench", *args])
    rc = 0
    try:
        cli.main()
    except SystemExit as exc:  # main exits only on failure
        rc = int(exc.code or 0)
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def test_cli_bad_detections_file_is_one_line_exit_2(tmp_path: Path, capsys, monkeypatch) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"version": 1, "detections": [
        {"name": "a", "title": "t", "match": [{"field": "verb", "equals": "get"}, {"field": "user.name", "equals": "x"}]}]}))
    policy = str(Path(__file__).parents[2] / "policies" / "metadata-all.yaml")
    rc, _, err = run_main(["whatif", str(FIXTURES / "whatif-capture.log"), "--policy", policy, "--detections", str(bad)],
                          capsys, monkeypatch)
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1, err
    assert f"{bad}: detections[0].match[1]" in lines[0] and "user has no field 'name'" in lines[0]
    rc, _, err = run_main(["whatif", str(FIXTURES / "whatif-capture.log"), "--policy", policy, "--detections",
                           "no-such-set"], capsys, monkeypatch)
    assert rc == 2 and "no such detections file" in err


def test_cli_logs_detect_with_a_detections_file_matches_the_built_in(capsys, monkeypatch) -> None:
    path = str(FIXTURES / "detect-cases.log")
    rc, built_in, _ = run_main(["logs", "detect", path, "--format", "json"], capsys, monkeypatch)
    assert rc == 0
    rc, as_data, _ = run_main(["logs", "detect", path, "--detections", "article", "--format", "json"], capsys, monkeypatch)
    assert rc == 0
    a = {d["name"]: d["events"] for d in json.loads(built_in)["detections"]}
    b = {d["name"]: d["events"] for d in json.loads(as_data)["detections"]}
    assert a == b and all(a.values())
