"""Number formatting shared by the markdown and HTML templates."""

from __future__ import annotations

import math

from bench.analysis.capacity import resolved
from bench.analysis.paired import Ratio
from bench.analysis.stats import Estimate


def num(x: float | None, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if math.isinf(x):
        return "∞"
    if isinstance(x, int) and not isinstance(x, bool):
        return f"{x:,}"  # counts: exact, with thousands separators
    if x != 0 and (abs(x) >= 10 ** 6 or abs(x) < 10 ** -3):
        return f"{x:.{digits}g}"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}" if abs(x) < 1 else f"{x:.{max(digits - len(str(int(abs(x)))), 0)}f}"


def bytes_(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(x) >= size:
            return f"{x / size:.3g} {unit}"
    return f"{x:.0f} B"


def est(e: Estimate, digits: int = 3) -> str:
    """mean [low, high]; marks unstable figures with ⚠ and single repeats with (n=1)."""
    if e.mean is None:
        return "–"
    text = num(e.mean, digits)
    if e.ci_low is not None and e.ci_high is not None:
        text += f" [{num(e.ci_low, digits)}, {num(e.ci_high, digits)}]"
    elif e.n == 1:
        text += " (n=1)"
    return text + (" ⚠" if e.unstable else "")


def ratio(r: Ratio | None, digits: int = 3) -> str:
    if r is None or r.value is None:
        return "–"
    text = f"{num(r.value, digits)}×"
    if r.low is not None and r.high is not None:
        text += f" [{num(r.low, digits)}, {num(r.high, digits)}]"
    return text


def pct(x: float | None) -> str:
    if x is None or (isinstance(x, float) and (math.isnan(x) or math.isinf(x))):
        return "–"
    return f"{x:+.1%}"


def cost(x: float | None, interval: tuple[float, float] | None, as_pct: bool = False) -> str:
    """A projected cost with its interval; one whose interval includes zero (or that has none)
    is "inconclusive": the run cannot tell it from no cost, whatever the point estimate says."""
    if x is None or (isinstance(x, float) and (math.isnan(x) or math.isinf(x))):
        return "–"
    one = pct if as_pct else num
    if interval is None:
        return f"inconclusive ({one(x)}, no interval)"
    text = f"{one(x)} [{one(interval[0])}, {one(interval[1])}]"
    return text if resolved(interval) else f"inconclusive ({text})"


def pvalue(p: float | None) -> str:
    return "–" if p is None else f"{p:.2g}"


FILTERS = {"num": num, "bytes": bytes_, "est": est, "ratio": ratio, "pct": pct, "pvalue": pvalue}
GLOBALS = {"cost": cost}
