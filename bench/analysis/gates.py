"""CI gates: "metric op number" expressions evaluated against a comparison.

A metric name ending in ``_ratio`` is candidate / reference of that figure (e.g.
``p99_latency_ratio > 1.10``: the candidate's client p99 more than 10% above the
reference's); any other name is the candidate's own figure (``drops > 0``,
``p99_latency_ms > 50``).

A gate needs evidence, like a verdict (bench.analysis.verdict):
- a count gate (drops, canary leaks, failures, ...) looks at every repeat and trips when
  any repeat meets the expression, whatever the number of repeats;
- a gate on a ratio or any other figure uses the interval over repeats: it trips when the
  whole interval meets the expression, passes when none of it does, and is "inconclusive"
  otherwise or with fewer than MIN_REPEATS_GATE repeats. An inconclusive gate fails the
  build too: a CI gate must not pass for want of evidence.
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


COUNT_COLUMNS = frozenset({"drops", "canary_leaks", "failures", "audit_errors", "requests_rejected",
                           "webhook_http_errors", "unreconciled_backends"})
PASS, TRIPPED, INCONCLUSIVE = "pass", "tripped", "inconclusive"


@dataclass(frozen=True)
class GateInput:
    """What a gate reads of one figure of a comparison."""

    per_repeat: list[float]  # the candidate's value in each measured repeat
    low: float | None  # interval of the mean (or of the ratio, for a ratio gate)
    high: float | None
    point: float | None
    n: int


@dataclass(frozen=True)
class GateResult:
    gate: Gate
    subject: str  # which comparison (e.g. "baseline.mixed -> seed-production.log.mixed")
    value: float | None
    outcome: str  # pass | tripped | inconclusive
    note: str = ""

    @property
    def tripped(self) -> bool:
        """Fails the build: tripped, or inconclusive (no evidence either way)."""
        return self.outcome != PASS


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


def evaluate(gate: Gate, subject: str, figure: GateInput | None) -> GateResult:
    """A figure that is missing trips too: a CI gate that silently passes because nothing
    was measured would hide breakage."""
    from bench.analysis.verdict import MIN_REPEATS_GATE

    op = _OPS[gate.op]
    if figure is None or figure.point is None or (isinstance(figure.point, float) and math.isnan(figure.point)):
        return GateResult(gate, subject, None, TRIPPED, "not measured")
    if gate.column in COUNT_COLUMNS and not gate.ratio:
        hits = [v for v in figure.per_repeat if op(v, gate.threshold)]
        note = f"{len(hits)} of {len(figure.per_repeat)} repeats" if hits else ""
        return GateResult(gate, subject, max(figure.per_repeat) if figure.per_repeat else figure.point,
                          TRIPPED if hits else PASS, note)
    if figure.n < MIN_REPEATS_GATE:
        return GateResult(gate, subject, figure.point, INCONCLUSIVE,
                          f"{figure.n} repeat(s); a gate on this figure needs at least {MIN_REPEATS_GATE}")
    if figure.low is None or figure.high is None:
        return GateResult(gate, subject, figure.point, INCONCLUSIVE, "no interval")
    interval = f"interval [{figure.low:.4g}, {figure.high:.4g}]"
    if op(figure.low, gate.threshold) and op(figure.high, gate.threshold):
        return GateResult(gate, subject, figure.point, TRIPPED, interval)
    if not op(figure.low, gate.threshold) and not op(figure.high, gate.threshold):
        return GateResult(gate, subject, figure.point, PASS, interval)
    return GateResult(gate, subject, figure.point, INCONCLUSIVE, f"{interval} straddles {gate.threshold:g}")


def evaluate_all(gates: list[Gate], subject: str, figures: Mapping[tuple[str, bool], GateInput | None]) -> list[GateResult]:
    """``figures``: (column, ratio?) -> what the gate reads."""
    return [evaluate(g, subject, figures.get((g.column, g.ratio))) for g in gates]
