"""The claims table and capacity rows that the README shows, printed from a run's own files.

`auditbench claims RUN` prints them as markdown, so a figure in the README is never typed by
hand: it is this command's output for a committed example run (results/examples/<name>/),
and a test checks that the README still says what the files say.
"""

from __future__ import annotations

from pathlib import Path

from bench.analysis import capacity as cap
from bench.analysis.compare import against_baseline
from bench.report import claims as claims_mod
from bench.report import fmt


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def claims_table(data) -> str:
    """Markdown: one row per claim, its verdict with the reason, and the evidence lines."""
    frame = data.frame
    # From the per-repeat figures only (no raw samples): a committed example, which keeps no
    # samples, then prints exactly what the run it came from prints.
    cmp = claims_mod.comparer(frame, None)
    rows = ["| claim | verdict | evidence |", "|---|---|---|"]
    for c in claims_mod.evaluate(frame, cmp):
        verdict = f"**{c.verdict}**" + (f" ({c.reason})" if c.reason else "")
        evidence = "<br>".join(_cell(e) for e in c.evidence) or _cell(f"needs {c.needs}")
        rows.append(f"| {c.title} | {_cell(verdict)} | {evidence} |")
    return "\n".join(rows)


def capacity_table(data, rate: float, profile: str) -> str:
    frame = data.frame
    inputs = cap.inputs_from_run(frame, against_baseline(frame), rate, profile)
    rows = [f"| variant (`{profile}`, {rate:g} req/s) | basis | bytes/request | GB/day | rotation keeps | added cores | "
            "p99 overhead | webhook headroom |", "|---|---|---|---|---|---|---|---|"]
    for family, _policy, i, basis in inputs:
        p = cap.plan(i)
        keeps = "–" if p.days_covered is None else (f"{p.days_covered * 24 * 60:,.0f} min" if p.days_covered < 1
                                                     else f"{p.days_covered:,.1f} days")
        on = f"{basis.method}" + (f" at {', '.join(f'{r:g}' for r in basis.rates)} req/s" if basis.rates else "")
        rows.append(f"| `{family}` | {on} | {fmt.num(i.bytes_per_request)} | {fmt.num(p.gb_per_day)} | {keeps} | "
                    f"{fmt.cost(p.added_cores, p.added_cores_interval)} | "
                    f"{fmt.cost(p.p99_overhead, p.p99_overhead_interval, as_pct=True)} | "
                    f"{'–' if p.webhook_headroom is None else fmt.num(p.webhook_headroom) + '×'} |")
    return "\n".join(rows)


def summary(ref: str | Path, rate: float | None = None, profile: str = "mixed", root: Path | None = None) -> str:
    from bench.report.build import load_run

    data = load_run(ref, root)
    m = data.manifest
    parts = [f"Run `{m.run_id}` (`{m.scenario}`), {len(data.results)} variant results:", "", claims_table(data)]
    if rate is not None:
        parts += ["", capacity_table(data, rate, profile)]
    return "\n".join(parts) + "\n"
