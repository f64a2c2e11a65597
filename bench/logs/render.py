"""Rich tables for people; the JSON forms live on the result objects."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from bench.logs import detect as detect_mod

if TYPE_CHECKING:
    from bench.logs.scan import Row, ScanResult


_MAX_ROWS = 20  # per breakdown in the text table; JSON has every row
_MAX_FINDINGS = 50


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def _pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "-"


def rows_table(title: str, rows: Sequence[Row], total_events: int, total_bytes: int) -> Table:
    t = Table(title=title, title_justify="left")
    t.add_column("key", overflow="fold")
    for col in ("events", "% events", "bytes", "% bytes", "avg bytes/event"):
        t.add_column(col, justify="right")
    for r in rows:
        t.add_row(
            r.key, f"{r.events:,}", _pct(r.events, total_events), human_bytes(r.bytes),
            _pct(r.bytes, total_bytes), f"{r.bytes / r.events:,.0f}" if r.events else "-",
        )
    return t


def print_scan(console: Console, res: ScanResult) -> None:
    files = ", ".join(f"{f['path']} ({f['kind']}{', gz' if f['compressed'] else ''})" for f in res.files)
    console.print(f"[bold]{res.events:,} events, {human_bytes(res.bytes)}[/bold] in {files}", highlight=False)
    if res.webhook:
        console.print(
            f"webhook: {res.webhook['batches']:,} batches, {human_bytes(res.webhook['received_bytes'])} received",
            highlight=False,
        )
    for dim, rows in res.by.items():
        console.print(rows_table(f"by {dim.replace('_', ' ')}", rows[:_MAX_ROWS], res.events, res.bytes))
        if len(rows) > _MAX_ROWS:
            console.print(f"  … {len(rows) - _MAX_ROWS} more (--format json lists all)", highlight=False)
    console.print(rows_table("top users", res.top_users, res.events, res.bytes))
    console.print(rows_table("top resources (resource namespace/name)", res.top_resources, res.events, res.bytes))


def print_findings(console: Console, findings: Sequence[detect_mod.Finding]) -> None:
    for f in findings:
        n = len(f.lines)
        style = "red" if n else "green"
        console.print(f"[bold {style}]{f.detection.title}: {n} event(s)[/bold {style}]", highlight=False)
        console.print(f"  jq 'select({f.detection.jq})'", highlight=False, soft_wrap=True)
        if not n:
            continue
        t = Table(show_header=True)
        cols = ("time", "user", "verb", "namespace", "name", "stage", "code")
        for c in cols:
            t.add_column(c, overflow="fold")
        for ev in f.head(_MAX_FINDINGS):
            s = detect_mod.finding_summary(ev)
            t.add_row(*("" if s[c] is None else str(s[c]) for c in cols))
        console.print(t)
        if n > _MAX_FINDINGS:
            console.print(f"  … {n - _MAX_FINDINGS} more (--format json lists all, with the full events)", highlight=False)


def _level_cell(counter: dict[str, int] | None) -> str:
    if not counter:
        return "-"
    return f"{counter['events']:,} / {human_bytes(counter['bytes'])}"


def rules_table(title: str, rules: Sequence[dict], total_events: int, total_bytes: int) -> Table:
    """Per-rule events and bytes (rows as produced by whatif/attribution to_json)."""
    t = Table(title=title, title_justify="left")
    t.add_column("rule", justify="right")
    t.add_column("level")
    t.add_column("matches", overflow="fold")
    for col in ("events", "% events", "bytes", "% bytes"):
        t.add_column(col, justify="right")
    top = max((r["bytes"] for r in rules), default=0)
    for r in rules:
        style = "bold" if top and r["bytes"] == top else None
        t.add_row(
            "-" if r["rule"] is None else str(r["rule"]), r["level"], r["description"], f"{r['events']:,}",
            _pct(r["events"], total_events), human_bytes(r["bytes"]), _pct(r["bytes"], total_bytes), style=style,
        )
    return t


def print_whatif(console: Console, doc: dict) -> None:
    cap = doc["capture"]
    console.print(
        f"capture: {cap['requests']:,} requests, {cap['events']:,} events, {human_bytes(cap['bytes'])}", highlight=False
    )
    for problem, n in cap["problems"].items():
        console.print(f"[yellow]warning:[/yellow] {n:,} events: {problem}", highlight=False)
    t = Table(title="predicted audit log per policy", title_justify="left")
    t.add_column("policy", overflow="fold")
    for col in ("requests logged", "events", "bytes", "bytes vs capture", "Metadata", "Request", "RequestResponse"):
        t.add_column(col, justify="right")
    for p in doc["predictions"]:
        t.add_row(
            p["policy"], f"{p['requests_logged']:,}", f"{p['events']:,}", human_bytes(p["bytes"]),
            _pct(p["bytes"], cap["bytes"]), *(_level_cell(p["by_level"].get(lv)) for lv in ("Metadata", "Request", "RequestResponse")),
        )
    console.print(t)
    for p in doc["predictions"]:
        console.print(rules_table(f"{p['policy']}: by rule", p["by_rule"], p["events"], p["bytes"]))


def print_attribution(console: Console, doc: dict) -> None:
    console.print(f"{doc['events']:,} events, {human_bytes(doc['bytes'])} written under {doc['policy']}", highlight=False)
    console.print(rules_table("cost per rule (largest in bold)", doc["rules"], doc["events"], doc["bytes"]))
    for what, n in doc["inconsistent"].items():
        console.print(f"[yellow]warning:[/yellow] {n:,} events do not fit this policy: {what}", highlight=False)
