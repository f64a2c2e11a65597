"""Scenario files: Go durations, strict validation with field paths, shipped scenarios."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bench.errors import InputError
from bench.paths import project_root
from bench.durations import format_duration, parse_duration
from bench.scenario.loader import dump_scenario, load_scenario, parse_scenario, scenario_sha256

MIN = {"name": "t", "policies": ["seed-production"], "traffic": {"users": 5, "duration": "20s"}}


def with_(**changes):
    doc = yaml.safe_load(yaml.safe_dump(MIN))
    for path, value in changes.items():
        node = doc
        keys = path.split("__")
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = value
    return doc


@pytest.mark.parametrize(
    "text,seconds",
    [("0", 0.0), ("0s", 0.0), ("500ms", 0.5), ("5s", 5.0), ("1m30s", 90.0), ("1h", 3600.0), ("1.5s", 1.5),
     ("250us", 0.00025)],
)
def test_go_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "5x", "-1s", "s", "1m30", "5 s"])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize("seconds", [0.0, 0.5, 1.0, 5.0, 30.0, 90.0, 3600.0])
def test_duration_round_trip(seconds):
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "doc,field",
    [
        (with_(audit__webhook__batch_max_wait=["0s", "1s", "5x"]), "audit.webhook.batch_max_wait[2]"),
        (with_(audit__webhook__batch_max_wait=["0s", 5]), "audit.webhook.batch_max_wait[1]"),
        (with_(bogus=1), "bogus"),
        (with_(audit__log__maxsize=-1), "audit.log.maxsize"),
        (with_(audit__webhook__enabled="yes"), "audit.webhook.enabled[0]"),
        (with_(audit__webhook__mode=["batch", "async"]), "audit.webhook.mode[1]"),
        (with_(traffic__users="10"), "traffic.users"),
        (with_(traffic__profiles=["mixd"]), "traffic.profiles[0]"),
        (with_(gates=["p99_latency_ratio>1.1", "p99_latency_ratio>>1"]), "gates[1]"),
        (with_(backend="docker"), "backend"),
    ],
)
def test_errors_name_file_and_field(doc, field):
    with pytest.raises(InputError) as exc:
        parse_scenario(doc, "s.yaml")
    assert exc.value.where == "s.yaml"
    assert exc.value.field == field, exc.value.line()


def test_several_errors_reported_at_once():
    doc = with_(bogus=1, repeats=0)
    with pytest.raises(InputError) as exc:
        parse_scenario(doc, "s.yaml")
    assert "bogus" in exc.value.reason and "repeats" in exc.value.reason


@pytest.mark.parametrize(
    "traffic,needle",
    [
        ({"users": 5}, "set duration"),
        ({"users": 5, "requests": 100}, "requests needs duration too"),
        ({"mode": "open", "target_rps": 10, "duration": "5s", "requests": 100}, "100 requests at 10 req/s take 10s"),
        ({"users": 5, "duration": "0s"}, "more than 0s"),
        ({"users": 5, "duration": "25h"}, "at most 24h"),
        ({"users": 5, "duration": "5s", "warmup": "2h"}, "at most 1h"),
        ({"users": 5001, "duration": "5s"}, "less than or equal to 5000"),
        ({"duration": "5s"}, "needs users"),
        ({"mode": "open", "duration": "5s"}, "needs exactly one of target_rps"),
        ({"users": 5, "target_rps": 10, "duration": "5s"}, "open-loop traffic only"),
    ],
)
def test_traffic_consistency(traffic, needle):
    with pytest.raises(InputError, match=needle):
        parse_scenario({**MIN, "traffic": traffic}, "s.yaml")


def test_scalars_are_one_element_lists_and_defaults_fill_in():
    s = parse_scenario(with_(audit__webhook__enabled=True, audit__webhook__batch_max_wait="5s"))
    assert s.audit.webhook.enabled == [True]
    assert s.audit.webhook.batch_max_wait == [5.0]
    assert (s.audit.log.maxage, s.audit.log.maxbackup, s.audit.log.maxsize) == (30, 10, 100)


def test_dump_round_trips():
    s = parse_scenario(with_(audit__webhook__enabled=[True], audit__webhook__batch_max_wait=["0s", "1m30s"]))
    again = parse_scenario(yaml.safe_load(dump_scenario(s)))
    assert again == s
    assert "1m30s" in dump_scenario(s)


def test_missing_policy_file_is_an_input_error(tmp_path: Path):
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump({**MIN, "policies": ["seed-production", "no-such-policy"]}))
    with pytest.raises(InputError) as exc:
        load_scenario(f)
    assert exc.value.field == "policies[1]"


def test_invalid_yaml(tmp_path: Path):
    f = tmp_path / "s.yaml"
    f.write_text("name: [unclosed\n")
    with pytest.raises(InputError, match="not valid YAML"):
        load_scenario(f)


SHIPPED = sorted((project_root() / "scenarios").glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_scenarios_load_with_their_policies(path: Path):
    s = load_scenario(path)
    assert s.name == path.stem
    assert len(scenario_sha256(s)) == 64


def test_required_scenarios_are_shipped():
    assert {p.stem for p in SHIPPED} >= {"smoke", "policy-comparison", "webhook-batching", "seed-claims"}


def test_policy_comparison_covers_every_policy():
    s = load_scenario(project_root() / "scenarios" / "policy-comparison.yaml")
    shipped = {p.stem for p in (project_root() / "policies").glob("*.yaml")}
    assert set(s.policies) == shipped
