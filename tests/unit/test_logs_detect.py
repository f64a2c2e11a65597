"""`logs detect` gives exactly what the article's jq expressions give on the same input.

These run the real jq (CI installs it: apt-get install -y jq) with the article's
expressions, verbatim, and compare event for event, in order.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.logs import detect, reader, synth

FIXTURES = Path(__file__).parent.parent / "fixtures" / "logs"

# The reference article's expressions, character for character (namespace aside).
ARTICLE = {
    "secrets-read-by-non-serviceaccount": """select(.objectRef.resource == "secrets" and
.verb == "get" and
(.user.username | startswith("system:serviceaccount:") | not))""",
    "clusterrolebinding-to-cluster-admin": """select(.objectRef.resource == "clusterrolebindings" and
.verb == "create" and
.requestObject.roleRef.name == "cluster-admin")""",
    "exec-in-production": """select(.objectRef.resource == "pods" and
.objectRef.subresource == "exec" and
.objectRef.namespace == "production")""",
}


def run_jq(jq: str, expr: str, path: Path) -> list[dict]:
    proc = subprocess.run([jq, "-c", expr, str(path)], capture_output=True, text=True, check=False)
    # 5: some inputs raised a jq error (no username, objectRef not an object); jq goes on.
    assert proc.returncode in (0, 5), proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def ours(path: Path, namespace: str = "production") -> dict[str, list[dict]]:
    return {f.detection.name: f.events for f in detect.detect(reader.expand([path]), namespace)}


def test_fixture_identical_to_article_jq(jq: str) -> None:
    path = FIXTURES / "detect-cases.log"
    got = ours(path)
    counts = {}
    for name, expr in ARTICLE.items():
        want = run_jq(jq, expr, path)
        assert got[name] == want, name
        counts[name] = len(want)
    # The fixture is built so each detection finds something and rejects near misses.
    assert counts == {"secrets-read-by-non-serviceaccount": 6, "clusterrolebinding-to-cluster-admin": 1, "exec-in-production": 2}


def test_namespace_is_configurable(jq: str) -> None:
    path = FIXTURES / "detect-cases.log"
    got = ours(path, "staging")["exec-in-production"]
    want = run_jq(jq, ARTICLE["exec-in-production"].replace('"production"', '"staging"'), path)
    assert got == want and len(want) == 1


def test_synthetic_log_identical_to_article_jq(jq: str, tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    synth.write_log(path, 4_000_000, seed=3)
    got = ours(path)
    for name, expr in ARTICLE.items():
        want = run_jq(jq, expr, path)
        assert want, f"the synthetic log should contain {name} events"
        assert got[name] == want, name


def test_webhook_capture_and_eventlist_give_the_log_answers() -> None:
    # The capture and EventList hold the same events as the log (minus one whose
    # objectRef is a string): the findings are those of the log.
    log = ours(FIXTURES / "detect-cases.log")
    batched = {
        f.detection.name: f.events
        for f in detect.detect(reader.expand([FIXTURES / "capture.webhook.jsonl", FIXTURES / "eventlist.json"]))
    }
    assert batched == log


def test_cli_json_and_table(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from bench.logs import cli

    path = FIXTURES / "detect-cases.log"
    result = CliRunner().invoke(cli.app, ["detect", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert [d["count"] for d in doc["detections"]] == [6, 1, 2]
    assert doc["detections"][1]["events"][0]["user"]["username"] == "mallory"
    table = CliRunner().invoke(cli.app, ["detect", str(path), "--production-namespace", "staging"])
    assert table.exit_code == 0
    assert "mallory" in table.output and "web-2" in table.output


# Lines on which a shortcut could part from jq: escapes that spell a literal another way,
# values of the wrong type, paths through non-objects, inputs that are not objects, JSON
# whitespace. Each is checked against jq.
EDGE_LINES = [
    # escapes
    '{"verb":"g\\u0065t","objectRef":{"resource":"secr\\u0065ts"},"user":{"username":"alice"},"n":10}',
    '{"verb":"get","obj\\u0065ctRef":{"resource":"secrets"},"user":{"username":"alice"},"n":11}',
    '{"verb":"get","objectRef":{"resource":"secrets"},"user":{"username":"system:serviceaccount\\u003aa:b"},"n":12}',
    '{"verb":"get","objectRef":{"resource":"secrets"},"user":{"username":"\\u00e9lise"},"requestURI":"/x?a=1\\u0026b=2","n":13}',
    '{"objectRef":{"resource":"pods","subresource":"\\u0065xec","namespace":"pr\\u006fduction"},"n":14}',
    '{"verb":"create","objectRef":{"resource":"clusterrolebindings"},"requestObject":{"roleRef":{"name":"cluster\\u002dadmin"}},"n":15}',
    '{"verb":"get","objectRef":{"resource":"secrets"},"user":{"username":"C:\\\\users"},"n":16}',
    # wrong types and paths through non-objects
    '{"verb":7,"objectRef":{"resource":"secrets"},"user":{"username":"alice"},"n":17}',
    '{"verb":["get"],"objectRef":{"resource":"secrets"},"user":{"username":"alice"},"n":18}',
    '{"verb":"get","objectRef":{"resource":"secrets"},"user":{"username":42},"n":19}',
    '{"verb":"get","objectRef":{"resource":"secrets"},"user":{"username":null},"n":20}',
    '{"verb":"get","objectRef":{"resource":"secrets"},"user":null,"n":21}',
    '{"verb":"get","objectRef":{"resource":"secrets"},"user":["alice"],"n":22}',
    '{"verb":"get","objectRef":{"resource":"secrets"},"n":23}',
    '{"verb":"get","objectRef":"secrets","user":{"username":"alice"},"n":24}',
    '{"verb":"get","objectRef":{"resource":{"name":"secrets"}},"user":{"username":"alice"},"n":25}',
    '{"verb":"create","objectRef":{"resource":"clusterrolebindings"},"requestObject":"cluster-admin","n":26}',
    '{"verb":"create","objectRef":{"resource":"clusterrolebindings"},"requestObject":{"roleRef":["cluster-admin"]},"n":27}',
    '{"verb":"create","objectRef":{"resource":"clusterrolebindings"},"requestObject":{"roleRef":{"name":["cluster-admin"]}},"n":28}',
    '{"objectRef":{"resource":"pods","subresource":"exec","namespace":null},"n":29}',
    # inputs that are not objects, and JSON whitespace
    '["secrets", "get"]', 'null', '"secrets"', '42', 'true',
    '{ "verb" : "get" , "objectRef" : { "resource" : "secrets" } , "user" : { "username" : "alice" } , "n" : 30 }',
    '   ',
    '{"verb":"get","objectRef":{"resource":"secrets"},"user":{"username":""},"n":31}',
    '{"verb":"get","objectRef":{"resource":"secrets"},"user":{"username":"system:serviceaccount:"},"n":32}',
]


def test_edge_cases_identical_to_article_jq(jq: str, tmp_path: Path) -> None:
    path = tmp_path / "edge.log"
    path.write_text("\n".join(EDGE_LINES) + "\n")
    got = ours(path)
    found = {}
    for name, expr in ARTICLE.items():
        want = run_jq(jq, expr, path)
        assert got[name] == want, name
        found[name] = [ev["n"] for ev in want]
    # What jq itself selects here, so the test shows which traps are live.
    assert found == {
        "secrets-read-by-non-serviceaccount": [10, 11, 13, 16, 30, 31],
        "clusterrolebinding-to-cluster-admin": [15],
        "exec-in-production": [14],
    }


def test_other_namespaces_and_their_spellings_identical_to_jq(jq: str, tmp_path: Path) -> None:
    # Digits and '-' may be \u-escaped; '/' may be written \/ and '<' is written \u003c by Go:
    # such a namespace cannot be searched for as text, and must still be found.
    spellings = {
        "prod-2": ['"prod-2"', '"prod\\u002d2"', '"prod-\\u0032"', '"prod\\u002D2"', '"prod-3"'],
        "a/b": ['"a/b"', '"a\\/b"', '"a\\u002fb"', '"a/c"'],
        "x<y": ['"x<y"', '"x\\u003cy"', '"x\\u003Cy"', '"x>y"'],
    }
    for ns, forms in spellings.items():
        path = tmp_path / "ns.log"
        path.write_text("".join(
            f'{{"objectRef":{{"resource":"pods","subresource":"exec","namespace":{form}}},"n":{i}}}\n'
            for i, form in enumerate(forms)))
        want = run_jq(jq, ARTICLE["exec-in-production"].replace('"production"', json.dumps(ns)), path)
        assert ours(path, ns)["exec-in-production"] == want, ns
        assert len(want) == len(forms) - 1, ns  # every spelling but the last, another namespace


# The one documented difference: a duplicate key (which Go's encoder never writes) is read
# at its first value by logs detect (DuckDB) and at its last by jq.
DUPLICATE_KEY_LINES = [
    '{"verb":"list","objectRef":{"resource":"secrets"},"user":{"username":"alice"},"verb":"get","n":1}',
    '{"verb":"get","objectRef":{"resource":"secrets"},"user":{"username":"alice"},"verb":"list","n":2}',
    '{"verb":"get","objectRef":{"resource":"pods","resource":"secrets"},"user":{"username":"alice"},"n":3}',
]


def test_duplicate_keys_are_read_at_their_first_value(jq: str, tmp_path: Path) -> None:
    path = tmp_path / "dup.log"
    path.write_text("\n".join(DUPLICATE_KEY_LINES) + "\n")
    name = "secrets-read-by-non-serviceaccount"
    assert [ev["n"] for ev in run_jq(jq, ARTICLE[name], path)] == [1, 3]
    assert [json.loads(line)["n"] for line in detect.detect(reader.expand([path]), only=[name])[0].lines] == [2]


def test_derived_jq_is_the_articles() -> None:
    # The jq text shown to users, and run by `logs bench`, is derived from the conditions.
    for det in detect.detections():
        assert f"select({det.jq})" == " ".join(ARTICLE[det.name].split()), det.name


def test_needles_are_pieces_of_the_literals() -> None:
    for det in detect.detections("team-a"):
        literals = [json.dumps(c.value) for c in det.conditions if c.op == "=="]
        assert det.needles and all(any(n in lit for lit in literals) for n in det.needles), det.name
    # A namespace that JSON may write with escapes gives no needle (it could be missed).
    odd = {d.name: d for d in detect.detections("a/b")}["exec-in-production"]
    assert '"a/b"' not in odd.needles and odd.needles


# Random events around what the detections look for: each field mostly holds a value a
# detection wants, else a near miss, null, a number, a boolean or a list; objects on the
# way are sometimes something else; strings (keys too) get random \\u escapes.
_OTHER = ["secret", "Secrets", "", "alice", "system:serviceaccount", None, 0, 1.5, True, ["secrets"], {"get": "get"}]


def _leaf(*wanted: str) -> st.SearchStrategy[Any]:
    return st.sampled_from([*wanted, *wanted, *wanted, *_OTHER])


def _object(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    # Mostly the object (sometimes missing keys), else a value of another type.
    pick = st.sampled_from(["all", "all", "all", "some", "other"])
    return pick.flatmap(lambda how: st.fixed_dictionaries(fields) if how == "all"
                        else st.fixed_dictionaries({}, optional=fields) if how == "some" else st.sampled_from(_OTHER))


_EVENT = st.fixed_dictionaries({
    "verb": _leaf("get", "create"),
    "objectRef": _object({"resource": _leaf("secrets", "pods", "clusterrolebindings"), "subresource": _leaf("exec"),
                          "namespace": _leaf("production")}),
    "user": _object({"username": _leaf("alice", "system:serviceaccount:ns:sa", "system:serviceaccount:")}),
    "requestObject": _object({"roleRef": _object({"name": _leaf("cluster-admin")})}),
})


def _dump(value: Any, escape: st.DataObject, rate: int) -> str:
    """JSON text with about one in ``rate`` characters of strings (keys included) written as \\uXXXX."""
    if isinstance(value, str):
        return '"' + "".join(f"\\u{ord(c):04{'xX'[escape.draw(st.integers(0, 1))]}}"
                             if escape.draw(st.integers(1, rate)) == 1 else json.dumps(c)[1:-1] for c in value) + '"'
    if isinstance(value, dict):
        return "{" + ",".join(f"{_dump(k, escape, rate)}:{_dump(v, escape, rate)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_dump(v, escape, rate) for v in value) + "]"
    return json.dumps(value)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(events=st.lists(_EVENT, min_size=1, max_size=60), rate=st.sampled_from([10**6, 40, 8]), data=st.data())
def test_random_events_identical_to_article_jq(jq: str, tmp_path: Path, events: list[Any], rate: int,
                                               data: st.DataObject) -> None:
    path = tmp_path / "random.log"
    path.write_text("".join(_dump({**ev, "n": i}, data, rate) + "\n" for i, ev in enumerate(events)))
    got = ours(path)
    for name, expr in ARTICLE.items():
        assert got[name] == run_jq(jq, expr, path), name
