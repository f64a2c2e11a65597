"""`auditbench traffic ...`: list profiles, run one profile against a fresh local cluster, and
run a Locust worker for a master elsewhere.

`traffic run` is the load generator's benchmark: it prints the request rate, latency and the
load generator's own CPU so the traffic side can be sized on a given machine. With
--remote-workers it waits for `traffic worker` processes started on other hosts.
"""

from __future__ import annotations

import json
import tempfile
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.console import Console
from rich.table import Table

from bench.errors import InputError
from bench.formats import HELP as FORMAT_HELP
from bench.formats import Format
from bench.outputs import output_dir
from bench.paths import project_root
from bench.durations import parse_duration
from bench.traffic.profiles import DEFAULT_FILE, load_profiles
from bench.traffic.transport import LOOPBACK

if TYPE_CHECKING:  # the launcher brings pandas: imported only by `traffic run`
    from bench.traffic.launcher import TrafficResult

app = typer.Typer(no_args_is_help=True, help="Locust traffic profiles for the apiserver.")
out = Console(highlight=False, soft_wrap=True)


class Mode(str, Enum):
    closed = "closed"
    open = "open"


@app.command("profiles")
def profiles_cmd(
    file: Path = typer.Option(DEFAULT_FILE, "--file", help="Profiles YAML to validate and list."),
    fmt: Format = typer.Option(Format.text, "--format", help=FORMAT_HELP),
) -> None:
    """Validate a profiles file and list its profiles with each class's share and identity."""
    profiles = load_profiles(file).profiles
    if fmt is Format.json:
        doc = {name: {"description": p.description, "classes": {
            cls: {"share": share, "as": p.identity(cls), "namespaces": list(p.namespace_roles(cls))}
            for cls, share in p.shares().items()}} for name, p in profiles.items()}
        out.print(json.dumps(doc, indent=2))
        return
    for name, p in profiles.items():
        table = Table(title=f"{name}: {p.description}", title_justify="left")
        for col in ("class", "share", "as", "namespaces"):
            table.add_column(col)
        for cls, share in sorted(p.shares().items(), key=lambda kv: -kv[1]):
            table.add_row(cls, f"{share:.1%}", p.identity(cls), ",".join(p.namespace_roles(cls)) or "-")
        out.print(table)


def _seconds(text: str, option: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise InputError(None, option, str(exc)) from None


@app.command("run")
def run_cmd(
    profile: str = typer.Option("mixed", "--profile", help="Profile name from the profiles file."),
    mode: Mode = typer.Option(Mode.closed, "--mode", help="closed (N users, no wait) or open (target rate)."),
    users: Optional[int] = typer.Option(None, "--users", help="Users (closed: required, default 4; open: concurrency)."),
    target_rps: Optional[float] = typer.Option(None, "--target-rps", help="Open loop: requests per second."),
    duration: str = typer.Option("20s", "--duration", help="Measured window (Go duration)."),
    warmup: str = typer.Option("3s", "--warmup", help="Warm-up before the window (not recorded)."),
    workers: int = typer.Option(0, "--workers", help="Locust worker processes on this machine (0 = one process)."),
    remote_workers: int = typer.Option(0, "--remote-workers", help="Workers to wait for from `auditbench traffic worker`."),
    master_bind_host: str = typer.Option(LOOPBACK, "--master-bind-host",
                                         help="Interface the Locust master listens on (loopback unless you need other hosts)."),
    master_port: int = typer.Option(5557, "--master-port", help="Locust master port when remote workers join."),
    join_key: str = typer.Option("", "--join-key", envvar="AUDITBENCH_JOIN_KEY",
                                 help="Key workers must present (default: a random one, printed)."),
    join_timeout: str = typer.Option("2m", "--join-timeout", help="How long to wait for the workers to connect."),
    policy: Path = typer.Option(project_root() / "policies" / "seed-production.yaml", "--policy",
                                help="Audit policy for the cluster."),
    seed: int = typer.Option(1, "--seed"),
    profiles_file: Path = typer.Option(DEFAULT_FILE, "--profiles-file"),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Keep samples here (default: a temp dir)."),
    fmt: Format = typer.Option(Format.text, "--format", help=FORMAT_HELP),
) -> None:
    """Start a local cluster with POLICY, run one profile, print rate, latency and load-generator CPU."""
    from bench.controlplane.audit import AuditSettings
    from bench.controlplane.local import LocalCluster
    from bench.traffic.launcher import ClusterInfo, RemoteWorkers, run_traffic

    if not policy.is_file():
        raise InputError(policy, None, "policy file not found")
    if mode is Mode.closed and users is None:
        users = 4
    duration_s, warmup_s = _seconds(duration, "--duration"), _seconds(warmup, "--warmup")
    work = output_dir(out_dir, "--out") if out_dir else Path(tempfile.mkdtemp(prefix="auditbench-traffic-"))
    with LocalCluster(audit=AuditSettings(policy=policy)) as cluster:
        remote = RemoteWorkers(remote_workers, master_bind_host, master_port, join_key,
                               _seconds(join_timeout, "--join-timeout")) if remote_workers else None
        result = run_traffic(ClusterInfo.from_local(cluster), profile, mode.value, users, target_rps, duration_s,
                             warmup_s, seed, work / "samples.csv.gz", work / "canaries.txt", workers=workers,
                             profiles_file=profiles_file, remote=remote, tolerate_lost_workers=True,
                             echo=lambda m: out.print(m, highlight=False, markup=False))
    if fmt is Format.json:
        out.print(json.dumps(result.as_dict(), indent=2, default=str))
        return
    _print(result)


def _print(r: TrafficResult) -> None:
    target = f" (target {r.target_rps:.1f})" if r.target_rps else ""
    remote = f" + {r.remote_workers} remote" if r.remote_workers else ""
    out.print(f"{r.profile} {r.mode}-loop, {r.users} users, {r.workers} workers{remote}: "
              f"{r.requests} requests in {r.duration_s:.1f}s = {r.achieved_rps:.1f} req/s{target}; "
              f"{r.failures} failed {r.errors_by_code}")
    sat = "  SATURATED: the client limits the rate" if r.loadgen_saturated else ""
    out.print(f"load generator: {r.loadgen_cpu_seconds:.2f} CPU-s, {r.loadgen_cpu_util:.0%} of a core per process "
              f"(busiest {r.loadgen_cpu_util_max:.0%}){sat}")
    table = Table()
    for col in ("class", "count", "mean ms", "p50", "p90", "p99", "p99.9", "max"):
        table.add_column(col, justify="right" if col != "class" else "left")
    lat = r.latency
    rows = [("overall", lat["overall"])] + sorted(lat["by_class"].items())
    for name, s in rows:
        table.add_row(name, str(s["count"]), *(f"{s[k]:.2f}" for k in
                      ("mean_ms", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms")))
    out.print(table)
    for t in r.lost_workers:
        out.print(f"[red]LOST[/red] worker {t['proc']} ({t['host']}, pid {t['pid']}): {t['received']} samples received, "
                  f"at least {t['lost_samples_at_least']} recorded but lost (its last report said {t['reported']})",
                  highlight=False)
    out.print(f"samples: {r.samples_path}")


@app.command("worker")
def worker_cmd(
    master: str = typer.Option(..., "--master", help="The run's Locust master, HOST:PORT."),
    join_key: str = typer.Option(..., "--join-key", envvar="AUDITBENCH_JOIN_KEY",
                                 help="The key the master printed (or was given)."),
    server: Optional[str] = typer.Option(None, "--server",
                                         help="The apiserver URL as this host reaches it (loopback, e.g. a tunnel)."),
    connect_timeout: str = typer.Option("2m", "--connect-timeout", help="How long to keep asking the master."),
) -> None:
    """Run one Locust worker for a run whose master runs elsewhere; its samples and canaries go to the master."""
    import sys

    from bench.traffic.worker import run_worker

    sys.exit(run_worker(master, join_key, server, _seconds(connect_timeout, "--connect-timeout")))


@app.command("from-log")
def from_log_cmd(
    logs: list[Path] = typer.Argument(..., help="Audit log files or directories (rotated and .gz too; webhook captures)."),
    name: str = typer.Option("from-log", "--name", help="Name of the derived profile."),
    out_file: Optional[Path] = typer.Option(None, "--out", help="Write the profiles file here (default: print it)."),
    user_agent: Optional[str] = typer.Option(None, "--user-agent",
                                             help="Only requests whose user agent starts with this (e.g. leave out kubelets)."),
) -> None:
    """Derive a traffic profile from an audit log: classes by verb, resource, scope and user kind,
    their shares and rate, body sizes where the log has them. Scenarios name it with
    traffic.profiles_file and replay it at multiples of the captured rate with traffic.rate_scales."""
    import yaml

    from bench.atomic import write_text
    from bench.traffic.derive import derive
    from bench.traffic.profiles import parse_profiles

    if not name or not all(ch.isalnum() or ch in "-_" for ch in name):
        raise InputError(None, "--name", "use letters, digits, '-' and '_'")
    doc, tally = derive(list(logs), name, user_agent)
    parse_profiles(doc, "derived profile")  # what a scenario will load, checked now
    text = ("# Derived by `auditbench traffic from-log` (see bench/traffic/derive.py for what a replay reproduces).\n"
            + yaml.safe_dump(doc, sort_keys=False, width=120))
    if out_file is None:
        out.print(text, markup=False)
        return
    write_text(out_file, text)
    prof = doc["profiles"][name]
    rate = f", {prof['rate_rps']:g} requests/s" if prof.get("rate_rps") else ""
    skipped = f" ({tally.skipped_agent} events of other user agents left out)" if tally.skipped_agent else ""
    out.print(f"{out_file}: profile {name}: {tally.total} requests in {len(prof['classes'])} classes over "
              f"{tally.span_s:.0f} s{rate}{skipped}", markup=False)
    for cls, share in sorted(tally.shares().items(), key=lambda kv: -kv[1])[:10]:
        out.print(f"  {share:6.1%}  {cls}", markup=False)
