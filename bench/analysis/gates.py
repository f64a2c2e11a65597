"""CI gates: "metric op number" expressions evaluated against a comparison.

A metric name ending in ``_ratio`` is candidate / reference of that figure's mean over
repeats (e.g. ``p99_latency_ratio > 1.10`` trips when the candidate's client p99 is more
than 10% above the reference's); any other name is the candidate's own mean value
(e.g. ``drops > 0``, ``p99_latency_ms > 50``). Gates use point estimates: a gate is a
threshold, not a significance claim; the comparison table says whether a difference is
significant.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bench.errors import InputError

# Friendly names -> columns of the flattened results frame (bench.results.store).
ALIASES: dict[str, str] = {
    "p50_latency": "client_p50_ms",
    "p90_latency": "client_p90_ms",
    "p99_latency": "client_p99_ms",
    "p999_latency": "client_p999_ms",
    "mean_latency": "client_mean_ms",
    "p50_latency_ms": "client_p50_ms",
    "p90_latency_ms": "client_p90_ms",
    "p99_latency_ms": "client_p99_ms",
    "server_p99_latency": "server_p99_ms",
    "server_p99_latency_ms": "server_p99_ms",
    "cpu_per_1k": "cpu_ms_per_1k",
    "throughput": "achieved_rps",
    "rps": "achieved_rps",
    "rss": "rss_peak_bytes",
    "lag_p99": "webhook_lag_p99_ms",
}

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}
_EXPR = re.compile(r"^\s*([a-z0-9_]+)\s*(>=|<=|>|<)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")


@dataclass(frozen=True)
class Gate:
    text: str
    name: str  # as written
    column: str  # frame column it reads
    ratio: bool
    op: str
    threshold: float


@dataclass(frozen=True)
class GateResult:
    gate: Gate
    subject: str  # which comparison (e.g. "baseline.mixed -> seed-production.log.mixed")
    value: float | None
    tripped: bool
    note: str = ""


def known_metrics() -> set[str]:
    from bench.results.store import METRIC_COLUMNS

    return set(METRIC_COLUMNS)


def parse_gate(text: str, where: str | None = None) -> Gate:
    m = _EXPR.match(text)
    if not m:
        raise InputError(where, "gates", f"cannot parse gate {text!r} (expected e.g. 'p99_latency_ratio>1.10')")
    name, op, number = m.groups()
    ratio = name.endswith("_ratio")
    base = name.removesuffix("_ratio") if ratio else name
    column = ALIASES.get(base, base)
    if column not in known_metrics():
        raise InputError(where, "gates", f"unknown metric {name!r} in gate {text!r}")
    return Gate(text=text.strip(), name=name, column=column, ratio=ratio, op=op, threshold=float(number))


def evaluate(gate: Gate, subject: str, values: Mapping[str, float | None], ratios: Mapping[str, float | None]) -> GateResult:
    """Trip when the figure meets the expression. A figure that is missing trips too:
    a CI gate that silently passes because nothing was measured would hide breakage."""
    value = (ratios if gate.ratio else values).get(gate.column)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return GateResult(gate, subject, None, True, "not measured")
    tripped = _OPS[gate.op](float(value), gate.threshold)
    return GateResult(gate, subject, float(value), tripped)


def evaluate_all(
    gates: list[Gate], subject: str, values: Mapping[str, float | None], ratios: Mapping[str, float | None]
) -> list[GateResult]:
    return [evaluate(g, subject, values, ratios) for g in gates]
