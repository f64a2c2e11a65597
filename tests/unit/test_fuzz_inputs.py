"""Fuzzing the three readers of user files: any input gives a valid result or an InputError,
never another exception (which the CLI would show as a traceback).

Inputs are generated two ways: raw text or bytes, and small changes to a valid document
(a value replaced at a random path), which reach the deeper validation a random string
never gets past.
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.errors import InputError
from bench.logs import reader
from bench.paths import project_root
from bench.policy.lint import lint
from bench.policy.loader import parse_policy, parse_policy_text
from bench.scenario.loader import dump_scenario, load_scenario, parse_scenario
from bench.scenario.matrix import expand

# AUDITBENCH_FUZZ_EXAMPLES=5000 for a long search; the default keeps the unit suite quick.
FUZZ = settings(max_examples=int(os.environ.get("AUDITBENCH_FUZZ_EXAMPLES", "150")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                    st.text(max_size=20), st.sampled_from(["5s", "0s", "1m30s", "500ms", "", "-1s", "1e9h", "9" * 30 + "h",
                                                           "batch", "blocking", "json", "legacy", "open", "closed",
                                                           "mixed", "metadata-all", "Metadata", "*", "RequestReceived"]))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(st.text(max_size=12), inner, max_size=4)),
                           max_leaves=12)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, prefix + (i,))
    return out


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> Any:
    """``base`` with up to three values replaced (or keys added) at random paths."""
    doc = json.loads(json.dumps(base))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(doc)))
        value = draw(json_values)
        if not path:
            return value
        node = doc
        for part in path[:-1]:
            node = node[part]
        if isinstance(node, dict) and draw(st.booleans()):
            node[draw(st.text(max_size=10))] = value
        else:
            node[path[-1]] = value
    return doc


SCENARIO = {
    "name": "fuzz", "policies": ["metadata-all", "seed-production"], "baseline": True,
    "audit": {"log": {"enabled": [True], "mode": ["blocking", "batch"], "maxsize": 100, "format": "json",
                      "batch_max_size": 10},
              "webhook": {"enabled": [True, False], "mode": ["batch"], "batch_max_wait": ["5s", "0s"],
                          "batch_max_size": [400], "throttle": {"enable": True, "qps": 10, "burst": 15},
                          "receiver": {"delay_ms": 0, "error_rate": 0.1, "down_for_s": 0}}},
    "traffic": {"profiles": ["mixed"], "mode": "open", "target_rps": 50, "duration": "20s", "requests": 500,
                "warmup": "2s"},
    "repeats": 2, "seed": 1, "timeout": "2m", "gates": ["p99_latency_ratio>1.1"],
}


def _scenario_ok_or_input_error(doc: Any) -> None:
    try:
        scenario = parse_scenario(doc, "fuzz.yaml")
    except InputError as exc:
        assert exc.line().startswith("fuzz.yaml")
        return
    # A valid scenario must also dump, reload to the same thing and expand.
    assert parse_scenario(yaml.safe_load(dump_scenario(scenario)), "again.yaml") == scenario
    try:
        expand(scenario)
    except InputError:
        pass


@FUZZ
@given(mutated(SCENARIO))
def test_scenario_documents(doc: Any) -> None:
    _scenario_ok_or_input_error(doc)


@FUZZ
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode),
                 mutated(SCENARIO).map(lambda d: yaml.safe_dump(d).encode())))
def test_scenario_files(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.yaml"
        path.write_bytes(content)
        try:
            load_scenario(path)
        except InputError as exc:
            assert str(path) in exc.line()


POLICY = {
    "apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "None", "users": ["system:kube-proxy"], "verbs": ["watch"],
         "resources": [{"group": "", "resources": ["endpoints", "services"]}]},
        {"level": "Metadata", "resources": [{"group": "", "resources": ["secrets"], "resourceNames": ["x"]}],
         "namespaces": ["kube-system"]},
        {"level": "None", "nonResourceURLs": ["/healthz*", "/version"]},
        {"level": "RequestResponse", "userGroups": ["system:nodes"], "omitStages": ["ResponseStarted"],
         "omitManagedFields": True},
    ],
}


def _policy_ok_or_input_error(load: Any) -> None:
    try:
        policy = load()
    except InputError as exc:
        assert exc.line().startswith("fuzz-policy.yaml")
        return
    lint(policy, "fuzz-policy.yaml")  # every policy that loads can be linted


@FUZZ
@given(mutated(POLICY))
def test_policy_documents(doc: Any) -> None:
    _policy_ok_or_input_error(lambda: parse_policy(doc, "fuzz-policy.yaml"))


@FUZZ
@given(st.one_of(st.text(max_size=300), mutated(POLICY).map(lambda d: yaml.safe_dump(d, default_flow_style=True)),
                 st.text(alphabet="{}[]:,- \n\"'&*!|>%@`#yYnN~01.", max_size=80)))
def test_policy_text(text: str) -> None:
    _policy_ok_or_input_error(lambda: parse_policy_text(text, "fuzz-policy.yaml"))


EVENT = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": "a1", "stage": "ResponseComplete",
         "requestURI": "/api/v1/namespaces/p/secrets/s", "verb": "get", "user": {"username": "alice", "groups": ["g"]},
         "objectRef": {"resource": "secrets", "namespace": "p", "name": "s"}, "responseStatus": {"code": 200}}
GOOD_LOG = (json.dumps(EVENT) + "\n").encode() * 3


@st.composite
def log_files(draw: st.DrawFn) -> tuple[str, bytes]:
    """(file name, content): raw bytes, damaged valid logs, events changed at random, gzip or not."""
    kind = draw(st.sampled_from(["raw", "damaged", "mutated"]))
    if kind == "raw":
        content = draw(st.binary(max_size=400))
    elif kind == "damaged":
        cut = draw(st.integers(0, len(GOOD_LOG)))
        content = GOOD_LOG[:cut] + draw(st.binary(max_size=20)) + GOOD_LOG[cut:]
    else:
        events = draw(st.lists(mutated(EVENT), min_size=1, max_size=3))
        content = b"".join(json.dumps(e).encode() + b"\n" for e in events)
    name = draw(st.sampled_from(["audit.log", "capture.webhook.jsonl", "events.json"]))
    if draw(st.booleans()):
        content = gzip.compress(content)
        if draw(st.booleans()):
            content = content[: draw(st.integers(0, len(content)))]
        name += ".gz"
    return name, content


@FUZZ
@given(log_files())
def test_audit_log_reader(file: tuple[str, bytes]) -> None:
    name, content = file
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(content)
        try:
            for event, nbytes in reader.iter_events(reader.expand([path])):
                assert nbytes > 0
        except InputError as exc:
            assert str(path) in exc.line()


def test_fuzz_bases_are_valid() -> None:
    # The mutations start from valid documents, or they would test only the first error.
    parse_scenario(SCENARIO, "base.yaml")
    parse_policy(POLICY, "base.yaml")
    assert (project_root() / "policies" / "metadata-all.yaml").is_file()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "audit.log"
        path.write_bytes(GOOD_LOG)
        assert len(list(reader.iter_events(reader.expand([path])))) == 3
