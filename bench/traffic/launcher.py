"""Run Locust traffic against a cluster in its own process(es); never imports locust.

run_traffic() sets up the run's namespaces and seed objects, starts Locust (one process,
or a master with N workers on loopback and/or M workers it waits for from other hosts) in its
own process group, samples the load generator's CPU from /proc while it runs, merges the
per-process sample files into one gzip CSV, summarizes it, and tears the run's objects down.
Workers send their samples and canaries to the master over Locust's channel
(bench.traffic.transport); the master writes them per worker, so the merge is the same.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import shutil
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib.metadata import version as _dist_version
from pathlib import Path
from typing import Any, Literal

import numpy as np
import psutil
import urllib3

from bench.atomic import write_json
from bench.controlplane.http import Client
from bench.controlplane.identities import read_identities_json
from bench.controlplane.ports import free_ports
from bench.controlplane.procs import Child
from bench.errors import EnvironmentProblem, InputError
from bench.traffic import fixtures, samples
from bench.traffic.canary import CanaryFile
from bench.traffic.catalog import long_running_classes
from bench.traffic.layout import Layout, new_prefix
from bench.traffic.profiles import DEFAULT_FILE, load_profile
from bench.traffic.transport import LOOPBACK
from bench.traffic.recorder import DRAIN_S

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
Mode = Literal["closed", "open"]
SATURATED = 0.9  # a gevent process above this share of one core limits the offered load
# Open loop: users kept so the schedule holds while requests take up to this long on
# average (a plan may send two requests, a busy 2-core machine has a long tail); idle
# users cost a greenlet each. Past it the generator falls behind, which is flagged.
OPEN_LOOP_BUDGET_S = 0.25
_ANY = ("0.0.0.0", "*", "::", "")


@dataclass(frozen=True)
class RemoteWorkers:
    """Workers the master waits for instead of starting them: `auditbench traffic worker
    --master HOST:PORT --join-key KEY` on any host. The master binds loopback unless told
    otherwise; the join key (generated when empty) guards the config, which holds the
    cluster's tokens."""

    count: int
    bind_host: str = LOOPBACK
    port: int = 5557  # Locust's default master port
    join_key: str = ""
    join_timeout_s: float = 120.0
RUN_TIME_MARGIN_S = 30  # Locust's -t beyond the window and drain (see _LocustRun.run)


@dataclass(frozen=True)
class ClusterInfo:
    server: str
    ca_file: Path
    identities_file: Path
    # A kubeconfig user that authenticates with a client certificate (external backend): every
    # connection presents it, and identities carry no token.
    client_cert: Path | None = None
    client_key: Path | None = None
    # Traffic goes to loopback only unless the user opted in (external backend, --allow-remote).
    allow_remote: bool = False

    @classmethod
    def from_local(cls, cluster: Any) -> ClusterInfo:
        """From a bench.controlplane.local.LocalCluster (or anything with the same attributes)."""
        return cls(cluster.server, Path(cluster.ca_file), Path(cluster.identities_file))


@dataclass(frozen=True)
class TrafficScope:
    """What one run's traffic may do on its cluster. The default is everything, under a fresh
    prefix (the harness's own clusters); the external backend narrows it to what its user may
    do and names the prefix itself, so it can find the run's objects again after Ctrl-C."""

    prefix: str | None = None  # ab-<hex>: every object of the run is named with it
    exclude_classes: frozenset[str] = frozenset()  # left out of the profile (bench.traffic.access)
    setup: fixtures.Scope = fixtures.Scope()


@dataclass
class TrafficResult:
    requests: int
    failures: int
    duration_s: float
    achieved_rps: float
    target_rps: float | None
    errors_by_code: dict[str, int]
    loadgen_cpu_seconds: float
    loadgen_cpu_util: float  # mean share of one core per load-generating process
    window_start: float  # unix seconds; samples cover [window_start, window_end)
    window_end: float
    samples_path: Path
    profile: str = ""
    mode: str = ""
    users: int = 0
    workers: int = 0
    warmup_requests: int = 0
    loadgen_cpu_util_max: float = 0.0  # busiest single process
    loadgen_saturated: bool = False
    late_slots: int = 0  # open loop: scheduled starts taken more than 10 ms late
    remote_workers: int = 0
    lost_workers: list[dict[str, Any]] = field(default_factory=list)  # transport records of lost workers
    lost_samples: int = 0  # at least this many recorded samples never reached the master
    transport: list[dict[str, Any]] = field(default_factory=list)  # per worker: received, verified, ...
    latency: dict[str, Any] = field(default_factory=dict)  # samples.summarize()
    counts_by_class: dict[str, int] = field(default_factory=dict)
    status_by_class: dict[str, dict[str, int]] = field(default_factory=dict)
    prefix: str = ""
    locust_version: str = ""
    setup_s: float = 0.0
    teardown: dict[str, Any] = field(default_factory=dict)
    edges: dict[str, float] = field(default_factory=dict)  # unix time each window edge fired
    edge_error: str | None = None
    collection: dict[str, Any] = field(default_factory=dict)  # the growth collection (fixtures.create_collection)
    nodes: int = 0  # simulated kubelets (a kubelet profile)
    content_types: dict[str, dict[str, int]] = field(default_factory=dict)  # class -> "body | accept" -> requests

    def as_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["samples_path"] = str(self.samples_path)
        return doc


def _validate(mode: str, users: int | None, target_rps: float | None, duration_s: float,
              warmup_s: float, workers: int, max_requests: int | None) -> int:
    def bad(fld: str, reason: str) -> InputError:
        return InputError(None, fld, reason)

    if mode not in ("closed", "open"):
        raise bad("mode", f"must be 'closed' or 'open', not {mode!r}")
    if not (0 < duration_s <= 86400):
        raise bad("duration", "must be more than 0 s and at most 24 h")
    if not (0 <= warmup_s <= 3600):
        raise bad("warmup", "must be between 0 s and 1 h")
    if not (0 <= workers <= 64):
        raise bad("workers", "must be between 0 and 64")
    if max_requests is not None and max_requests <= 0:
        raise bad("max_requests", "must be positive")
    if users is not None and not (1 <= users <= 5000):
        raise bad("users", "must be between 1 and 5000")
    if mode == "closed":
        if users is None:
            raise bad("users", "closed-loop traffic needs a user count")
        if target_rps is not None:
            raise bad("target_rps", "a target rate needs open-loop mode")
        return users
    if target_rps is None or not (0 < target_rps <= 1_000_000):
        raise bad("target_rps", "open-loop traffic needs a target rate above 0")
    # Concurrency budget: enough users for OPEN_LOOP_BUDGET_S per request at the target rate
    # 2-core machine's latency tail does not make the open loop fall behind its schedule.
    return users if users is not None else min(1000, math.ceil(target_rps * OPEN_LOOP_BUDGET_S) + 4)


def run_traffic(cluster: ClusterInfo, profile: str, mode: Mode, users: int | None, target_rps: float | None,
                duration_s: float, warmup_s: float, seed: int, samples_path: Path, canary_path: Path,
                workers: int = 0, cpus: set[int] | None = None, max_requests: int | None = None,
                profiles_file: Path = DEFAULT_FILE, teardown: bool = True,
                work_dir: Path | None = None, on_edge: EdgeCallback | None = None,
                schedule: str = "constant", remote: RemoteWorkers | None = None,
                tolerate_lost_workers: bool = False, echo: Callable[[str], None] | None = None,
                nice: int | None = None, scope: TrafficScope = TrafficScope(),
                objects: tuple[int, float] | None = None, nodes: int | None = None) -> TrafficResult:
    """Set up, run Locust, merge samples, tear down. ``on_edge("start"|"end")`` is called at
    the edges of the recorded window (see :class:`EdgeTimer`), before the teardown. A worker
    lost mid-run raises EnvironmentProblem unless ``tolerate_lost_workers``; then the result
    reports it (lost_workers, lost_samples). ``objects`` (count, size KB) overrides the
    profile's growth collection; ``nodes`` the number of simulated kubelets of a kubelet
    profile (one user each)."""
    # fail on a bad profile (or one with nothing left to send) before touching the cluster
    prof = load_profile(profile, profiles_file)
    prof.without(scope.exclude_classes)
    if prof.kubelet is not None:
        if mode != "closed":
            raise InputError(None, "mode", f"profile {profile} simulates kubelets on their own schedule: use closed")
        users = nodes or users or prof.kubelet.nodes
    n_users = _validate(mode, users, target_rps, duration_s, warmup_s, workers, max_requests)
    bulk = collection_for(prof, objects)
    n_remote = remote.count if remote else 0
    if not (0 <= n_remote <= 64 and workers + n_remote <= 64):
        raise InputError(None, "remote_workers", "local plus remote workers must be between 0 and 64")
    total = workers + n_remote
    if total and n_users < total:
        raise InputError(None, "users", f"{n_users} users cannot be spread over {total} workers")
    samples_path = Path(samples_path)
    work = Path(work_dir) if work_dir else samples_path.parent / f"{samples_path.name.split('.')[0]}-locust"
    work.mkdir(parents=True, exist_ok=True)
    for stale in [*work.glob("samples-*.csv"), *work.glob("proc-*.json"), *work.glob("window-*.json"),
                  *work.glob("transport.json")]:
        stale.unlink()
    join_key = (remote.join_key if remote else "") or secrets.token_urlsafe(18)
    layout = Layout(scope.prefix or new_prefix(), bulk_count=bulk[0], bulk_size_kb=bulk[1])
    admin = _admin_client(cluster)
    t0 = time.monotonic()
    canaries = CanaryFile(canary_path)
    try:
        try:
            collection = fixtures.setup(admin, layout, canaries, scope.setup)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise fixtures.SetupError(f"traffic setup cannot talk to {cluster.server}: {exc}",
                                      "is the cluster up, and is the CA file the cluster's?") from None
        setup_s = time.monotonic() - t0
        procs = max(1, total)
        config = {
            "server": cluster.server, "ca_file": str(cluster.ca_file),
            "identities_file": str(cluster.identities_file), "profiles_file": str(profiles_file),
            "profile": profile, "mode": mode, "seed": seed, "warmup_s": warmup_s, "duration_s": duration_s,
            "target_rps": (target_rps / procs) if mode == "open" and target_rps else None,
            "schedule": schedule,
            "max_requests": math.ceil(max_requests / procs) if max_requests else None,
            "samples_dir": str(work), "canary_path": str(canary_path),
            "prefix": layout.prefix, "seeds": layout.seeds, "workers": total, "join_key": join_key,
            "client_cert": str(cluster.client_cert) if cluster.client_cert else None,
            "client_key": str(cluster.client_key) if cluster.client_key else None,
            "allow_remote": cluster.allow_remote, "exclude_classes": sorted(scope.exclude_classes),
            "inert": scope.setup.inert,
            "bulk_count": layout.bulk_count, "bulk_size_kb": layout.bulk_size_kb,
        }
        write_json(work / "config.json", config, mode=0o600)
        run = _LocustRun(work, cluster.server, n_users, workers, cpus, warmup_s + duration_s, remote, join_key, echo,
                         nice)
        timer = EdgeTimer(work, max(1, total), on_edge) if on_edge is not None else None
        run.run(timer)
        result = _collect(run, work, samples_path, profile, mode, n_users, workers, target_rps, layout)
        result.remote_workers = n_remote
        _check_transport(result, tolerate_lost_workers, run)
        result.setup_s = setup_s
        result.collection = collection
        result.nodes = n_users if prof.kubelet is not None else 0
        if timer is not None:
            result.edges = dict(timer.fired)
            result.edge_error = f"{type(timer.error).__name__}: {timer.error}" if timer.error else None
    finally:
        canaries.close()
        if teardown:
            summary = _teardown(admin, layout)
            if "result" in locals():
                result.teardown = summary
        admin.close()
    return result


def collection_for(profile: Any, objects: tuple[int, float] | None) -> tuple[int, float]:
    """(count, size KB) of the growth collection: the scenario's, else the profile's; (0, 0)
    when the profile does not read one (the objects would only slow the set-up)."""
    if not profile.reads_collection:
        return 0, 0.0
    if objects is not None:
        return objects
    return profile.objects.count, profile.objects.size_kb


def _teardown(admin: Client, layout: Layout) -> dict[str, Any]:
    # Never let a failing cleanup hide the run's own result or exception.
    try:
        td = fixtures.teardown(admin, layout)
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        return {"deleted": {}, "errors": [f"teardown failed: {exc}"]}
    return {"deleted": {k: len(v) for k, v in td.deleted.items()}, "errors": td.errors}


def _admin_client(cluster: ClusterInfo) -> Client:
    idents = read_identities_json(cluster.identities_file)
    if "admin" not in idents:
        raise InputError(cluster.identities_file, "admin", "no admin identity in the identities file")
    return Client(cluster.server, str(cluster.ca_file), idents["admin"].token or None, timeout=30.0,
                  cert=cluster_cert(cluster), allow_remote=cluster.allow_remote)


def cluster_cert(cluster: ClusterInfo) -> tuple[str, str] | None:
    return (str(cluster.client_cert), str(cluster.client_key)) if cluster.client_cert and cluster.client_key else None


class _LocustRun:
    """Locust processes for one run, each in its own process group, with CPU sampling."""

    def __init__(self, work: Path, server: str, users: int, workers: int, cpus: set[int] | None,
                 run_s: float, remote: RemoteWorkers | None = None, join_key: str = "",
                 echo: Callable[[str], None] | None = None, nice: int | None = None) -> None:
        self.work, self.server, self.users, self.workers, self.cpus = work, server, users, workers, cpus
        self.nice = nice
        self.run_s = run_s
        self.remote, self.join_key, self.echo = remote, join_key, echo
        self.total = workers + (remote.count if remote else 0)
        self.children: list[Child] = []
        self.cpu: dict[int, list[tuple[float, float]]] = {}  # pid -> [(unix t, cpu s)]
        self.load_pids: list[int] = []  # processes that generate requests

    def _env(self, proc: int) -> dict[str, str]:
        env = dict(os.environ)
        env.update({"AB_TRAFFIC_CONFIG": str(self.work / "config.json"), "AB_PROC_INDEX": str(proc),
                    "PYTHONUNBUFFERED": "1"})
        return env

    def _worker_env(self, i: int, host: str, port: int) -> dict[str, str]:
        """A local worker is started like a remote one: it gets its config over the channel."""
        env = {k: v for k, v in os.environ.items() if k != "AB_TRAFFIC_CONFIG"}
        env.update({"AB_MASTER_HOST": host, "AB_MASTER_PORT": str(port), "AB_JOIN_KEY": self.join_key,
                    "AB_WORKER_DIR": str(self.work / f"worker-{i}"), "PYTHONUNBUFFERED": "1"})
        return env

    def _base(self) -> list[str]:
        return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--loglevel", "WARNING"]

    def _spawn(self, name: str, argv: list[str], proc: int, env: dict[str, str] | None = None) -> Child:
        # Pinned before exec: gevent's and locust's threads start inside the load-side set.
        child = Child(name, argv, self.work / f"{name}.log", env=env or self._env(proc), cpus=self.cpus, nice=self.nice)
        self.children.append(child)
        return child.start()

    def run(self, timer: EdgeTimer | None = None) -> None:
        # A last-resort bound (a master ends the run as soon as every worker has reported
        # its window's end) for Locust itself: our locustfile ends the window and the drain
        # after it (DRAIN_S). Its -t timer counts from when gevent's loop was created, not from
        # when it is set (a gevent timer started before the loop first runs fires early by the
        # time in between: seconds of imports on a busy machine, measured here cutting the
        # window at 5.6 of 8 s). So the margin is wide; the harness's own deadline (_wait) stays
        # the bound that matters.
        run_time = f"{math.ceil(self.run_s + DRAIN_S) + RUN_TIME_MARGIN_S + (10 if self.total else 0)}s"
        common = ["--headless", "-u", str(self.users), "-r", str(self.users), "-t", run_time,
                  "--only-summary", "--host", self.server, "--stop-timeout", "0", "--exit-code-on-error", "0"]
        join_s = self.remote.join_timeout_s if self.remote else 60.0
        try:
            if self.total == 0:
                child = self._spawn("locust", self._base() + common, 0)
                self.load_pids = [child.pid]
            else:
                bind = self.remote.bind_host if self.remote else LOOPBACK
                port = self.remote.port if self.remote else free_ports(1)[0]
                self._spawn("locust-master", self._base() + common + [
                    "--master", "--master-bind-host", bind, "--master-bind-port", str(port),
                    "--expect-workers", str(self.total), "--expect-workers-max-wait", str(math.ceil(join_s))], 0)
                local = LOOPBACK if bind in _ANY else bind
                for i in range(self.workers):
                    w = self._spawn(f"locust-worker-{i}", self._base() + [
                        "--worker", "--master-host", local, "--master-port", str(port)], i,
                        env=self._worker_env(i, local, port))
                    self.load_pids.append(w.pid)
                if self.remote and self.echo:
                    self.echo(f"waiting up to {join_s:.0f}s for {self.remote.count} remote worker(s); on each host run:\n"
                              f"  auditbench traffic worker --master {_master_address(bind, port)} --join-key {self.join_key}")
            if timer is not None:
                timer.start()
            self._wait(time.monotonic() + self.run_s + 60.0 + (join_s if self.total else 0.0))
            if timer is not None:
                timer.finish()  # request-count runs end before the planned edge
        finally:
            if timer is not None:
                timer.cancel()
            for child in self.children:
                child.stop(grace=5.0)
            for i in range(self.workers):  # local workers' copies of the CA and tokens
                shutil.rmtree(self.work / f"worker-{i}", ignore_errors=True)

    def _wait(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            self._sample()
            if not any(c.running() for c in self.children):
                return
            master = self.children[0]
            if self.workers and not master.running():
                # Workers leave when the master tells them; give them a moment.
                deadline = min(deadline, time.monotonic() + 10.0)
            time.sleep(0.2)
        raise EnvironmentProblem("Locust did not finish within its time bound; killed it",
                                 f"see {self.work}/*.log")

    def _sample(self) -> None:
        now = time.time()
        for child in self.children:
            try:
                p = psutil.Process(child.pid)
                total = _cpu(p) + sum(_cpu(c) for c in p.children(recursive=True))
            except psutil.Error:
                continue
            self.cpu.setdefault(child.pid, []).append((now, total))

    def cpu_between(self, start: float, end: float) -> dict[int, float]:
        out = {}
        for pid, series in self.cpu.items():
            if len(series) < 2:
                continue
            ts, cs = np.array([s[0] for s in series]), np.array([s[1] for s in series])
            out[pid] = float(np.interp(end, ts, cs) - np.interp(start, ts, cs))
        return out

    def log_tail(self) -> str:
        parts = []
        for child in self.children:
            try:
                parts.append(f"{child.name}: " + " | ".join(child.log_path.read_text(errors="replace").splitlines()[-5:]))
            except OSError:
                pass
        return "\n".join(parts)[-2000:]


EdgeCallback = Callable[[str], None]
END_MARGIN_S = 0.15  # the end edge's snapshots must finish before Locust stops recording


class EdgeTimer:
    """Calls ``on_edge("start")`` when every Locust process records and ``on_edge("end")``
    just before the first one stops, so /metrics, /proc and the receiver are read at the
    edges of the window the client samples cover (one window for every figure).

    Each process writes ``window-N.json`` (record_from, record_to) when its test starts;
    the edges are the latest start and the earliest planned end. A run bounded by a request
    count ends early: :meth:`finish` then fires the end edge at once.
    """

    def __init__(self, work: Path, procs: int, on_edge: EdgeCallback, poll_s: float = 0.02) -> None:
        self.work, self.procs, self.on_edge, self.poll_s = work, procs, on_edge, poll_s
        self.fired: dict[str, float] = {}
        self.planned: tuple[float, float] | None = None
        self.error: BaseException | None = None
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True, name="window-edges")

    def start(self) -> None:
        self._thread.start()

    def _plan(self) -> tuple[float, float] | None:
        docs = [json.loads(p.read_text()) for p in self.work.glob("window-*.json")]
        if len(docs) < self.procs:
            return None
        return max(d["record_from"] for d in docs), min(d["record_to"] for d in docs) - END_MARGIN_S

    def _run(self) -> None:
        try:
            while self.planned is None:
                if self._cancel.wait(self.poll_s):
                    return
                self.planned = self._plan()
            start, end = self.planned
            for edge, at in (("start", start), ("end", end)):
                if self._cancel.wait(max(0.0, at - time.time())):
                    return
                self._fire(edge)
        except Exception as exc:  # reported by the measurement that misses its edge
            self.error = exc

    def _fire(self, edge: str) -> None:
        with self._lock:
            if edge in self.fired or (edge == "end" and "start" not in self.fired):
                return
            self.fired[edge] = time.time()
        self.on_edge(edge)

    def finish(self) -> None:
        """Locust has ended: fire the end edge now if it has not fired."""
        self._cancel.set()
        self._thread.join()
        if "start" in self.fired:
            self._fire("end")

    def cancel(self) -> None:
        self._cancel.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()


def _master_address(bind: str, port: int) -> str:
    host = socket.gethostname() if bind in _ANY else bind
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _merge_types(docs: Any) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for doc in docs:
        for cls, per in doc.items():
            mine = out.setdefault(cls, {})
            for key, n in per.items():
                mine[key] = mine.get(key, 0) + int(n)
    return out


def _cpu(p: psutil.Process) -> float:
    t = p.cpu_times()
    return t.user + t.system + t.children_user + t.children_system


def _collect(run: _LocustRun, work: Path, samples_path: Path, profile: str, mode: str, users: int,
             workers: int, target_rps: float | None, layout: Layout) -> TrafficResult:
    procs = [json.loads(p.read_text()) for p in sorted(work.glob("proc-*.json"))]
    expected = max(1, run.total)
    if len(procs) < expected:
        joined = f"; did all {run.remote.count} remote workers join within {run.remote.join_timeout_s:.0f}s?" if run.remote else ""
        raise EnvironmentProblem(f"Locust ended without recording ({len(procs)} of {expected} processes reported{joined})",
                                 run.log_tail())
    parts = [work / p["samples"] for p in procs]
    df = samples.merge_sample_files(parts, samples_path)
    for part in parts:
        part.unlink(missing_ok=True)
    # A worker lost before its first report has no window to contribute.
    start = min(p["record_from"] for p in procs if p.get("record_from") is not None)
    end = max(p["record_to"] for p in procs if p.get("record_to") is not None)
    window = max(end - start, 1e-9)
    cpu = run.cpu_between(start, end)
    # Workers this machine did not start report their own process CPU over their window.
    here = socket.gethostname()
    remote_cpu = [float(p["cpu_s"]) for p in procs if run.total and p.get("cpu_s") is not None
                  and (p.get("host") != here or p.get("pid") not in run.load_pids)]
    load_cpu = [cpu.get(pid, 0.0) for pid in run.load_pids] + remote_cpu
    util_max = max(load_cpu) / window if load_cpu else 0.0
    failures = int((df["ok"] == 0).sum())
    return TrafficResult(
        requests=len(df), failures=failures, duration_s=window, achieved_rps=len(df) / window,
        target_rps=target_rps, errors_by_code=samples.errors_by_code(df),
        loadgen_cpu_seconds=sum(cpu.values()) + sum(remote_cpu),
        loadgen_cpu_util=sum(load_cpu) / window / max(1, len(load_cpu)),
        window_start=start, window_end=end, samples_path=samples_path, profile=profile, mode=mode,
        users=users, workers=workers, warmup_requests=sum(p["warmup"] for p in procs),
        loadgen_cpu_util_max=util_max, loadgen_saturated=util_max > SATURATED,
        late_slots=sum(p["late_slots"] for p in procs),
        latency=samples.summarize(df, long_running_classes()), counts_by_class=samples.counts_by_class(df),
        content_types=_merge_types(p.get("content_types") or {} for p in procs),
        status_by_class=samples.status_by_class(df), prefix=layout.prefix, locust_version=_dist_version("locust"),
        transport=[p["transport"] for p in procs if "transport" in p],
    )


def _check_transport(result: TrafficResult, tolerate_lost: bool, run: _LocustRun) -> None:
    """Rows that do not match their worker's own tally are a broken run, always; a lost worker
    is one unless the caller asked to see it reported instead."""
    bad = [t for t in result.transport if t["state"] == "done" and not t["verified"]]
    if bad:
        raise EnvironmentProblem(f"samples from worker(s) {[t['proc'] for t in bad]} do not match what they sent: "
                                 f"{[t['mismatch'] for t in bad]}", run.log_tail())
    result.lost_workers = [t for t in result.transport if t["state"] == "lost"]
    result.lost_samples = sum(t["lost_samples_at_least"] for t in result.lost_workers)
    if result.lost_workers and not tolerate_lost:
        lost = ", ".join(f"worker {t['proc']} ({t['host']}): {t['received']} samples received, "
                         f"at least {t['lost_samples_at_least']} lost" for t in result.lost_workers)
        raise EnvironmentProblem(f"Locust worker(s) lost mid-run: {lost}", run.log_tail())
