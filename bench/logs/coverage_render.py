"""Text for people: detection coverage per policy (whatif) and policy suggestions; JSON lives on the objects."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.logs.render import human_bytes



def _pct(part: float, whole: float) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "-"


def coverage_table(doc: dict[str, Any]) -> Table:
    """One policy: per detection, requests (events) found in the capture, kept, missed and why."""
    mark = "[green]keeps every detection[/green]" if doc["complete"] else "[red]misses detections[/red]"
    t = Table(title=f"{doc['policy']}: {mark}", title_justify="left")
    t.add_column("detection", overflow="fold")
    for col in ("found in capture", "still found", "missed"):
        t.add_column(col, justify="right")
    t.add_column("why missed", overflow="fold")
    for d in doc["detections"]:
        found, kept, missed = d["found"], d["kept"], d["missed"]
        why = "; ".join(f"{g['requests']}: {g['reason']}" for g in missed["by_reason"]) or ("-" if found["requests"] else
                                                                                              "nothing to find in the capture")
        style = "red" if missed["requests"] else None
        t.add_row(d["name"], f"{found['requests']} ({found['events']} ev)", f"{kept['requests']} ({kept['events']} ev)",
                  str(missed["requests"]), why, style=style)
    return t


def example_line(ex: dict[str, Any]) -> str:
    """One missed request on one line: when, who, what, where, answer."""
    when = str(ex.get("time") or "")
    when = when.split(".")[0] + "Z" if "." in when else when
    what = " ".join(str(x) for x in (ex.get("verb"), ex.get("resource"), ex.get("name")) if x)
    where = f" in {ex['namespace']}" if ex.get("namespace") else ""
    code = f" -> {ex['code']}" if ex.get("code") is not None else ""
    return f"{when} {ex.get('user') or '(unauthenticated)'} {what}{where}{code}"


def print_coverage(console: Console, coverage: Sequence[dict[str, Any]]) -> None:
    for doc in coverage:
        console.print(coverage_table(doc))
        for d in doc["detections"]:
            for g in d["missed"]["by_reason"]:
                console.print(f"  {d['name']} misses {g['requests']} request(s): {g['reason']}", highlight=False)
                for ex in g["examples"]:
                    console.print(f"    e.g. {example_line(ex)}", highlight=False, markup=False)


def print_suggestion(console: Console, doc: dict[str, Any]) -> None:
    base, new = doc["base"], doc["suggested"]
    rate = doc.get("rate_rps")
    console.print(f"base {base['policy']}: {base['events']:,} events, {human_bytes(base['bytes'])} for "
                  f"{doc['capture']['requests']:,} captured requests", highlight=False)
    for problem, n in doc["capture"]["problems"].items():
        console.print(f"[yellow]warning:[/yellow] {n:,} {problem}; edits and savings cannot account "
                      "for what the capture lacks (capture with policies/capture.yaml)", highlight=False)
    t = Table(title="edits applied (each keeps every detection)", title_justify="left")
    for col, just in (("#", "right"), ("edit", "left"), ("saves", "right"), ("% of base", "right")):
        t.add_column(col, justify=just, overflow="fold")  # type: ignore[arg-type]
    if rate:
        t.add_column(f"saved/day at {rate:g} req/s", justify="right")
    for n, step in enumerate(doc["edits"], 1):
        row = [str(n), step["summary"], human_bytes(step["saving_bytes"]), _pct(step["saving_bytes"], base["bytes"])]
        if rate:
            row.append(human_bytes(step["saving_bytes_per_day"]))
        t.add_row(*row)
    console.print(t)
    if doc["rejected"]:
        r = Table(title="edits not applied: they would lose a detection", title_justify="left")
        for col in ("edit", "would save", "loses"):
            r.add_column(col, overflow="fold")
        for rej in doc["rejected"]:
            loses = "; ".join(f"{x['detection']}: {x['requests']} request(s), {x['reason']}" for x in rej["lost"])
            r.add_row(rej["summary"], human_bytes(rej["saving_bytes"]), loses)
        console.print(r)
    per_day = f", {human_bytes(new['bytes_per_day'])}/day at {rate:g} req/s (base {human_bytes(base['bytes_per_day'])}/day)" if rate else ""
    console.print(f"[bold]suggested: {new['events']:,} events, {human_bytes(new['bytes'])} "
                  f"({_pct(base['bytes'] - new['bytes'], base['bytes'])} less){per_day}[/bold]", highlight=False)
    proof = doc["proof"]
    ok = proof["keeps_every_detection"] and proof["matches_search"]
    console.print(("[green]proof:[/green] " if ok else "[red]proof FAILED:[/red] ")
                  + f"replayed the capture through the policy checker: {proof['summary']}", highlight=False)
    console.print(coverage_table(proof["coverage"]))
    for line in doc["lint"]:
        console.print(f"lint: {line}", highlight=False, markup=False)
    console.print(f"wrote {doc['out']}", highlight=False)
