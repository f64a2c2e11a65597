"""`auditbench logs bench`: auditbench's queries next to jq's on the same synthetic log.

Each query has an auditbench form and a jq form that computes the same answer (jq
reads lines raw with -R where the answer needs line sizes, as the log's bytes are
part of the answer). Both run in the same process invocation, one after the other,
on a file the generator just wrote (so both read from the page cache), and their
answers are compared, so a fast wrong answer cannot pass as a speed-up.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.errors import EnvironmentProblem, InputError
from bench.logs import detect, query, reader, scan, synth
from bench.logs.reader import Source

KINDS: tuple[synth.Profile, ...] = ("small", "bodies")
KIND_TITLES: dict[str, str] = {
    "small": "~1 KB Metadata/Request events",
    "bodies": "Metadata, Request and RequestResponse events with bodies",
}
END_TO_END = "detect_e2e"
END_TO_END_WHAT = "the article's three detections end to end: `auditbench logs detect FILE` vs the three jq commands"

_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}


def parse_size(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMG]i?B|B)?\s*", text, re.IGNORECASE)
    if not m:
        raise InputError(None, "--size", f"{text!r} is not a size like 200MB or 1GB")
    n = int(float(m.group(1)) * _UNITS[(m.group(2) or "").upper()])
    if n < 1:
        raise InputError(None, "--size", "size must be positive")
    return n


# --- the queries ------------------------------------------------------------------------

_JQ_RESOURCE_KEY = (
    '((.objectRef // {}) as $o | if ($o.resource // "") != "" then $o.resource'
    ' + (if ($o.apiGroup // "") != "" then "." + $o.apiGroup else "" end)'
    ' + (if ($o.subresource // "") != "" then "/" + $o.subresource else "" end)'
    ' else ((.requestURI // "(none)") | split("?")[0]) end)'
)
_JQ_USER_KIND = (
    '(.user.username as $u | if $u == null then "unknown"'
    ' elif ($u | startswith("system:serviceaccount:")) then "service account"'
    ' elif ($u | startswith("system:")) then "system" else "human" end)'
)
_JQ_KEYS = {
    "level": '(.level // "(none)")',
    "stage": '(.stage // "(none)")',
    "verb": '(.verb // "(none)")',
    "resource": _JQ_RESOURCE_KEY,
    "user_kind": _JQ_USER_KIND,
    "user": '(.user.username // "(none)")',
}


def _jq_group_by(key: str) -> list[str]:
    """jq program: events and bytes (line length + newline) per key."""
    return [
        "-R", "-n",
        f"reduce (inputs | (utf8bytelength + 1) as $b | fromjson | [{_JQ_KEYS[key]}, $b]) as [$k, $b]"
        " ({}; .[$k].events += 1 | .[$k].bytes += $b)",
    ]


def _jq_scan_all() -> list[str]:
    keys = ["level", "stage", "verb", "resource", "user_kind", "user"]
    body = ", ".join(f"{_JQ_KEYS[k]}" for k in keys)
    update = " | ".join(f'.["{k}"][$k[{i}]].events += 1 | .["{k}"][$k[{i}]].bytes += $b' for i, k in enumerate(keys))
    return ["-R", "-n", f"reduce (inputs | (utf8bytelength + 1) as $b | fromjson | [[{body}], $b]) as [$k, $b] ({{}}; {update})"]


def _group_rows(sources: list[Source], key_sql: str, paths: list[str]) -> dict[str, Any]:
    con = query.connect()
    rows = query.run(
        con, sources,
        lambda rel: f"SELECT {key_sql} AS k, count(*), sum(nbytes) FROM ({scan.extract_sql(rel, paths)}) GROUP BY 1",
        safe_build=lambda rel: f"SELECT {key_sql} AS k, count(*), sum(nbytes) FROM ({scan.extract_sql(rel, paths, fast=False)}) GROUP BY 1",
    )
    return {str(k): {"events": int(e), "bytes": int(b)} for k, e, b in rows}


def _ab_group(dim: str) -> Callable[[list[Source]], Any]:
    specs: dict[str, tuple[str, list[str]]] = {
        "level": ("coalesce(v[1], '(none)')", ["$.level"]),
        "stage": ("coalesce(v[1], '(none)')", ["$.stage"]),
        "verb": ("coalesce(v[1], '(none)')", ["$.verb"]),
        "user": ("coalesce(v[1], '(none)')", ["$.user.username"]),
        "user_kind": (scan.user_kind_sql("v[1]"), ["$.user.username"]),
        "resource": (
            scan.resource_key_sql("v[1]", "v[2]", "v[3]", "v[4]"),
            ["$.objectRef.resource", "$.objectRef.subresource", "$.objectRef.apiGroup", "$.requestURI"],
        ),
    }
    key_sql, paths = specs[dim]
    return lambda sources: _group_rows(sources, key_sql, paths)


def _ab_scan(sources: list[Source]) -> Any:
    res = scan.scan(sources, top=1_000_000)
    out = {dim: {r.key: {"events": r.events, "bytes": r.bytes} for r in rows} for dim, rows in res.by.items()}
    out["user"] = {r.key: {"events": r.events, "bytes": r.bytes} for r in res.top_users}
    return out


def _ab_detect(name: str) -> Callable[[list[Source]], Any]:
    return lambda sources: detect.detect(sources, only=[name])[0].events


def _jq_lines(stdout: str) -> list[Any]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


@dataclass(frozen=True)
class BenchQuery:
    name: str
    what: str
    jq_args: list[str]
    auditbench: Callable[[list[Source]], Any]
    parse_jq: Callable[[str], Any] = json.loads


def queries() -> list[BenchQuery]:
    qs = [BenchQuery(f"by_{d}", f"events and bytes by {d.replace('_', ' ')}", _jq_group_by(d), _ab_group(d))
          for d in ("level", "stage", "verb", "resource", "user_kind", "user")]
    qs.append(BenchQuery("scan", "all of the above in one pass (auditbench logs scan)", _jq_scan_all(), _ab_scan))
    for det in detect.detections():
        qs.append(BenchQuery(f"detect_{det.name}", det.title + " (the article's jq)",
                             ["-c", f"select({det.jq})"], _ab_detect(det.name), _jq_lines))
    return qs


# --- running --------------------------------------------------------------------------


def jq_version(jq: str) -> str:
    path = shutil.which(jq)
    if path is None:
        raise EnvironmentProblem(f"jq not found at {jq}", "install it (apt-get install -y jq) or pass --jq PATH")
    return subprocess.run([path, "--version"], capture_output=True, text=True, check=False).stdout.strip()


_JQ_OK = (0, 5)  # 5: some input raised a jq error (jq goes on), the output is still valid


def _time_jq(jq: str, args: list[str], path: Path) -> tuple[float, str]:
    elapsed, _, stdout = _time_process([jq, *args, str(path)], ok=_JQ_OK)
    return elapsed, stdout


def run_benchmark(
    size_bytes: int,
    directory: Path | None = None,
    keep: bool = False,
    seed: int = 1,
    jq: str = "/usr/bin/jq",
    queries: list[str] | None = None,
    echo: Callable[[str], None] | None = None,
    repeat: int = 3,
    kinds: Sequence[synth.Profile] = KINDS,
    jq_repeat: int = 1,
) -> dict[str, Any]:
    """For each kind of log, write a synthetic log, then time every query with auditbench and with jq."""
    say = echo or (lambda _m: None)
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    chosen, end_to_end = _select(queries)
    if not kinds:
        raise InputError(None, "--kind", f"choose at least one of {', '.join(KINDS)}")
    version = jq_version(jq)
    workdir = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="auditbench-logs-"))
    workdir.mkdir(parents=True, exist_ok=True)
    logs = []
    try:
        for kind in kinds:
            path = workdir / f"audit-{kind}.log"
            say(f"[{kind}] writing {size_bytes / 1e6:,.0f} MB synthetic audit log ({KIND_TITLES[kind]}) to {path} ...")
            started = time.perf_counter()
            try:
                written, events = synth.write_log(path, size_bytes, seed, kind)
                gen_s = time.perf_counter() - started
                say(f"  {events:,} events of {written / events:,.0f} bytes on average, written in {gen_s:.1f}s")
                sources = reader.expand([path])
                results = [_run_one(q, sources, path, written, jq, say, repeat) for q in chosen]
                if end_to_end:
                    results.append(_run_end_to_end(path, written, jq, say, repeat, jq_repeat))
            finally:
                if not keep:
                    path.unlink(missing_ok=True)  # one log on disk at a time
            logs.append({
                "kind": kind, "what": KIND_TITLES[kind], "file": str(path) if keep else None, "bytes": written,
                "events": events, "generate_seconds": round(gen_s, 3), "queries": results,
            })
    finally:
        if not keep and directory is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return {
        "seed": seed,
        "jq": version,
        "cpus": os.cpu_count(),
        "loadavg_at_start": load_at_start,
        "auditbench_repeat": repeat,
        "jq_repeat": jq_repeat,
        "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
        "logs": logs,
    }


def _select(names: list[str] | None) -> tuple[list[BenchQuery], bool]:
    """The in-process queries chosen, and whether the end-to-end figure is."""
    qs = queries()
    if not names:
        return qs, True
    known = {q.name: q for q in qs}
    bad = [n for n in names if n not in known and n != END_TO_END]
    if bad:
        raise InputError(None, "--queries", f"unknown {', '.join(bad)}; known: {', '.join([*known, END_TO_END])}")
    return [known[n] for n in names if n in known], END_TO_END in names


def _run_one(q: BenchQuery, sources: list[Source], path: Path, nbytes: int, jq: str, say: Callable[[str], None],
             repeat: int) -> dict[str, Any]:
    # auditbench takes about a second, so one burst of another process on a small machine
    # can double it: it runs `repeat` times and the median counts. jq's single run takes
    # tens of seconds and averages such bursts out by itself.
    times = []
    ours: Any = None
    for _ in range(repeat):
        started = time.perf_counter()
        ours = q.auditbench(sources)
        times.append(time.perf_counter() - started)
    ab_s = statistics.median(times)
    say(f"{q.name}: auditbench {ab_s:.2f}s ({nbytes / 1e6 / ab_s:,.0f} MB/s), jq ...")
    jq_s, stdout = _time_jq(jq, q.jq_args, path)
    theirs = q.parse_jq(stdout)
    agree = _normalize(ours) == _normalize(theirs)
    say(f"  jq {jq_s:.2f}s ({nbytes / 1e6 / jq_s:,.0f} MB/s): {jq_s / ab_s:.1f}x, answers {'agree' if agree else 'DIFFER'}")
    return {
        "name": q.name,
        "what": q.what,
        "jq_program": q.jq_args[-1],
        "auditbench_seconds": round(ab_s, 3),
        "auditbench_runs_seconds": [round(t, 3) for t in times],
        "auditbench_mb_s": round(nbytes / 1e6 / ab_s, 1),
        "jq_seconds": round(jq_s, 3),
        "jq_mb_s": round(nbytes / 1e6 / jq_s, 1),
        "speedup": round(jq_s / ab_s, 1),
        "answers_agree": agree,
    }


# --- end to end: the command a user runs, against the jq commands they would run ------------


def detect_command() -> list[str]:
    """How a user starts `auditbench`: the console script installed next to this Python."""
    script = Path(sys.executable).with_name("auditbench")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "bench"]


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _time_process(cmd: list[str], ok: tuple[int, ...] = (0,)) -> tuple[float, float, str]:
    """Wall and CPU seconds of one run of ``cmd`` (its output read from a pipe), and its output."""
    cpu = _children_cpu()
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode not in ok:
        raise EnvironmentProblem(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()[:300]}")
    return elapsed, _children_cpu() - cpu, proc.stdout


def _run_end_to_end(path: Path, nbytes: int, jq: str, say: Callable[[str], None], repeat: int,
                    jq_repeat: int) -> dict[str, Any]:
    """`auditbench logs detect FILE` as a process, start-up included, against the article's three
    jq commands one after the other (their times add up): medians of the runs."""
    ours_cmd = [*detect_command(), "logs", "detect", str(path)]
    ours = [_time_process(ours_cmd) for _ in range(repeat)]
    ab_s, ab_cpu = statistics.median(t for t, _, _ in ours), statistics.median(c for _, c, _ in ours)
    say(f"{END_TO_END}: auditbench logs detect {ab_s:.2f}s (CPU {ab_cpu:.2f}s), jq x3 ...")
    dets = detect.detections()
    theirs: dict[str, Any] = {}
    jq_runs = []
    for _ in range(jq_repeat):
        wall = cpu = 0.0
        for d in dets:
            w, c, stdout = _time_process([jq, "-c", f"select({d.jq})", str(path)], ok=_JQ_OK)
            wall, cpu = wall + w, cpu + c
            theirs[d.name] = _jq_lines(stdout)
        jq_runs.append((wall, cpu))
    jq_s, jq_cpu = statistics.median(w for w, _ in jq_runs), statistics.median(c for _, c in jq_runs)
    # The answer, checked once with --format json (the timed runs print the table a person reads).
    _, _, doc = _time_process([*ours_cmd[:-1], "--format", "json", str(path)])
    got = {d["name"]: d["events"] for d in json.loads(doc)["detections"]}
    agree = _normalize(got) == _normalize(theirs)
    say(f"  jq {jq_s:.2f}s (CPU {jq_cpu:.2f}s): {jq_s / ab_s:.1f}x end to end, answers {'agree' if agree else 'DIFFER'}")
    return {
        "name": END_TO_END,
        "what": END_TO_END_WHAT,
        "command": "auditbench logs detect FILE",
        "jq_program": " ; ".join(f"jq -c 'select({d.jq})' FILE" for d in dets),
        "auditbench_seconds": round(ab_s, 3),
        "auditbench_runs_seconds": [round(t, 3) for t, _, _ in ours],
        "auditbench_cpu_seconds": round(ab_cpu, 3),
        "auditbench_mb_s": round(nbytes / 1e6 / ab_s, 1),
        "jq_seconds": round(jq_s, 3),
        "jq_runs_seconds": [round(w, 3) for w, _ in jq_runs],
        "jq_cpu_seconds": round(jq_cpu, 3),
        "jq_mb_s": round(nbytes / 1e6 / jq_s, 1),
        "speedup": round(jq_s / ab_s, 1),
        "cpu_ratio": round(jq_cpu / ab_cpu, 1) if ab_cpu else None,
        "answers_agree": agree,
    }


def _normalize(x: Any) -> Any:
    return json.loads(json.dumps(x, sort_keys=True))


def print_report(console: Console, report: dict[str, Any]) -> None:
    jq_runs = "one run" if report["jq_repeat"] == 1 else f"median of {report['jq_repeat']} runs"
    console.print(
        f"seed {report['seed']}; {report['jq']}; {report['cpus']} CPUs, load average {report['loadavg_at_start']} "
        f"at start, {report['loadavg_at_end']} at end; auditbench: median of {report['auditbench_repeat']} runs, "
        f"jq: {jq_runs}",
        highlight=False,
    )
    for log in report["logs"]:
        t = Table(title=f"{log['kind']}: {log['what']}; {log['bytes'] / 1e6:,.0f} MB, {log['events']:,} events "
                        f"(MB = 10^6 bytes)", title_justify="left")
        for col, just in (("query", "left"), ("auditbench s", "right"), ("auditbench MB/s", "right"),
                          ("jq s", "right"), ("jq MB/s", "right"), ("speed-up", "right"), ("same answer", "center")):
            t.add_column(col, justify=just)  # type: ignore[arg-type]
        for r in log["queries"]:
            t.add_row(r["name"], f"{r['auditbench_seconds']:.2f}", f"{r['auditbench_mb_s']:,.0f}", f"{r['jq_seconds']:.2f}",
                      f"{r['jq_mb_s']:,.0f}", f"{r['speedup']:.1f}x", "yes" if r["answers_agree"] else "[red]NO[/red]")
        console.print(t)
    for log in report["logs"]:
        for r in log["queries"]:
            if r["name"] == END_TO_END:
                console.print(
                    f"{log['kind']} ({log['bytes'] / 1e6:,.0f} MB): `{r['command']}` {r['auditbench_seconds']:.2f}s "
                    f"end to end (CPU {r['auditbench_cpu_seconds']:.2f}s) vs the three jq commands "
                    f"{r['jq_seconds']:.2f}s (CPU {r['jq_cpu_seconds']:.2f}s): [bold]{r['speedup']:.1f}x[/bold] "
                    f"(CPU {r['cpu_ratio']}x)", highlight=False)
