"""Gate grammar and evaluation."""

from __future__ import annotations

import math

import pytest

from bench.analysis.gates import evaluate, parse_gate
from bench.errors import InputError


@pytest.mark.parametrize(
    "text,column,ratio,op,threshold",
    [
        ("p99_latency_ratio>1.10", "client_p99_ms", True, ">", 1.10),
        ("p50_latency_ratio >= 1.05", "client_p50_ms", True, ">=", 1.05),
        ("bytes_per_request_ratio>1.5", "bytes_per_request", True, ">", 1.5),
        ("cpu_per_1k_ratio<=2", "cpu_ms_per_1k", True, "<=", 2.0),
        ("events_per_request>3", "events_per_request", False, ">", 3.0),
        ("drops>0", "drops", False, ">", 0.0),
        ("p99_latency_ms>50", "client_p99_ms", False, ">", 50.0),
        ("achieved_rps<100", "achieved_rps", False, "<", 100.0),
    ],
)
def test_parse(text, column, ratio, op, threshold):
    g = parse_gate(text)
    assert (g.column, g.ratio, g.op, g.threshold) == (column, ratio, op, threshold)


@pytest.mark.parametrize("text", ["p99_latency_ratio", "p99>", "x>1", "p99_latency_ratio=1", "drops>>0", ""])
def test_bad_gates(text):
    with pytest.raises(InputError):
        parse_gate(text, "--fail-on")


@pytest.mark.parametrize(
    "text,value,tripped",
    [("p99_latency_ratio>1.10", 1.11, True), ("p99_latency_ratio>1.10", 1.10, False),
     ("p99_latency_ratio>=1.10", 1.10, True), ("p99_latency_ratio<0.9", 0.8, True),
     ("p99_latency_ratio<=0.9", 0.95, False), ("p99_latency_ratio>1.1", math.inf, True)],
)
def test_evaluate_ratio(text, value, tripped):
    r = evaluate(parse_gate(text), "a -> b", {}, {"client_p99_ms": value})
    assert r.tripped is tripped and r.value == value


def test_absolute_gate_reads_candidate_value():
    r = evaluate(parse_gate("drops>0"), "s", {"drops": 4.0}, {"drops": 1.0})
    assert r.tripped and r.value == 4.0


def test_unmeasured_figure_trips_rather_than_passing_silently():
    r = evaluate(parse_gate("drops>0"), "s", {"drops": None}, {})
    assert r.tripped and r.note == "not measured"
