"""Locust entry point for auditbench traffic. Runs only inside the Locust process.

Started by bench.traffic.launcher (never imported by the orchestrator: importing locust
monkey-patches the interpreter with gevent). A single process or a master reads its
configuration from the JSON file named by AB_TRAFFIC_CONFIG; a worker (AB_MASTER_HOST set,
started by the launcher or by `auditbench traffic worker` on any host) asks the master for it
over Locust's channel and gets its process index with it.

Every request is recorded by a request-event listener at full resolution (Locust's
FastHttpUser reports response_time as a float of perf_counter milliseconds): a single
process writes its CSV sample file; a worker ships its rows and canaries to the master in
custom messages (bench.traffic.transport), and the master writes them per worker. Requests
that start during the warm-up are only counted. A request belongs to the window by its start;
when the window ends, requests in flight get DRAIN_S to finish, and those still unanswered are
recorded as failed (bench.traffic.recorder).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import socket
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import gevent
import gevent.local
import gevent.ssl
from gevent.pool import Group
from locust import FastHttpUser, constant, events, task
from locust.contrib.fasthttp import FastHttpSession
from locust.exception import StopUser
from locust.runners import LocalRunner, MasterRunner, WorkerRunner

from bench.agents import TRAFFIC_AGENT
from bench.atomic import write_json
from bench.controlplane.identities import read_identities_json
from bench.traffic.actions import Actor, Req, is_ok
from bench.traffic.canary import CanaryFile
from bench.traffic.catalog import ANONYMOUS
from bench.traffic.kubelet import WATCH_TIMEOUT_S, Kubelet
from bench.traffic.layout import Layout
from bench.traffic.profiles import load_profile
from bench.traffic import transport
from bench.traffic.recorder import DRAIN_S, InFlight, SampleWriter
from bench.traffic.schedule import Schedule


def _load_config() -> dict[str, Any]:
    if "AB_MASTER_HOST" not in os.environ:
        return json.loads(Path(os.environ["AB_TRAFFIC_CONFIG"]).read_text())
    from bench.traffic.distributed import fetch_config

    try:
        reply = fetch_config(os.environ["AB_MASTER_HOST"], int(os.environ["AB_MASTER_PORT"]),
                             os.environ.get("AB_JOIN_KEY", ""), float(os.environ.get("AB_CONNECT_TIMEOUT", "120")))
        return transport.install_worker_config(reply, Path(os.environ["AB_WORKER_DIR"]), os.environ.get("AB_SERVER"))
    except (TimeoutError, transport.ConfigError) as exc:
        raise SystemExit(f"auditbench worker: {exc}") from None


CONFIG: dict[str, Any] = _load_config()
PROC = int(CONFIG.get("proc", os.environ.get("AB_PROC_INDEX", "0")))
PROFILE = load_profile(CONFIG["profile"], CONFIG["profiles_file"])
LAYOUT = Layout(CONFIG["prefix"], CONFIG["seeds"], CONFIG.get("bulk_count", 0), CONFIG.get("bulk_size_kb", 0.0))

# Loopback only, unless the user opted in for a cluster elsewhere (external backend's
# --allow-remote); never on this project's machines.
if not CONFIG.get("allow_remote") and urlparse(CONFIG["server"]).hostname not in ("127.0.0.1", "::1", "localhost"):
    raise SystemExit(f"refusing non-loopback server {CONFIG['server']}")
PROFILE = PROFILE.without(CONFIG.get("exclude_classes") or [])


def _auth_headers() -> dict[str, dict[str, str]]:
    idents = read_identities_json(Path(CONFIG["identities_file"]))
    # No token: the kubeconfig's user authenticates with its client certificate (ssl_context).
    out = {name: ({"Authorization": f"Bearer {i.token}"} if i.token else {}) for name, i in idents.items()}
    out[ANONYMOUS] = {}
    return out


AUTH = _auth_headers()
USERS = {name: (i.user, list(i.groups)) for name, i in read_identities_json(Path(CONFIG["identities_file"])).items()}
_SSL_CONTEXT: gevent.ssl.SSLContext | None = None


def ssl_context(*_args: Any, **_kwargs: Any) -> gevent.ssl.SSLContext:
    """Verify the apiserver against the cluster CA (geventhttpclient would pass certifi's bundle)."""
    global _SSL_CONTEXT
    if _SSL_CONTEXT is None:
        _SSL_CONTEXT = gevent.ssl.create_default_context(cafile=CONFIG["ca_file"])
        if CONFIG.get("client_cert"):
            _SSL_CONTEXT.load_cert_chain(CONFIG["client_cert"], CONFIG.get("client_key"))
    return _SSL_CONTEXT


class Pacer:
    """Open loop: this process's share of the schedule (bench.traffic.schedule).

    The slot a request was scheduled for is kept in a greenlet-local while it is sent, so
    the request listener (which runs in the sending greenlet) records its lag: send time
    minus scheduled time. Latency from the schedule is lag + duration.
    """

    def __init__(self, rate: float, start: float, kind: str, seed: str) -> None:
        self.schedule = Schedule(rate, start, kind, seed)
        self.late = 0
        self.max_lateness = 0.0

    def wait(self) -> float:
        slot = self.schedule.next_slot()
        delay = slot - time.time()
        if delay > 0:
            gevent.sleep(delay)
        elif -delay > 0.01:
            self.late += 1
            self.max_lateness = max(self.max_lateness, -delay)
        CURRENT.slot = slot
        return slot


CURRENT = gevent.local.local()  # .slot: the scheduled start of the request being sent


class ProcessState:
    def __init__(self) -> None:
        self.writer: SampleWriter | transport.Outbox | None = None
        self.canaries: CanaryFile | transport.ChannelCanaries | None = None
        self.send: transport.Send | None = None  # set on a worker: rows and canaries go to the master
        self.done_sent = False
        self.cpu_at_start: float | None = None
        self.started_at = 0.0
        self.record_from = 0.0
        self.record_to = 0.0
        self.stopped_at: float | None = None
        self.warmup = 0
        self.after_window = 0
        self.failures = 0
        self.unfinished = 0
        self.in_flight = InFlight()
        self.pacer: Pacer | None = None
        self.watches = Group()
        self.user_ids = itertools.count()
        self.finished = False
        self.stopping = False
        self.content_types: dict[str, dict[str, int]] = {}  # class -> "body type | accept" -> requests sent

    def count_types(self, cls: str, body_type: str, accept: str) -> None:
        key = f"{body_type or '-'} | {accept}"
        per = self.content_types.setdefault(cls, {})
        per[key] = per.get(key, 0) + 1

    @property
    def recorded(self) -> int:
        return self.writer.count if self.writer else 0

    def start(self, environment: Any) -> None:
        now = time.time()
        self.started_at = now
        self.record_from = now + float(CONFIG["warmup_s"])
        self.record_to = self.record_from + float(CONFIG["duration_s"])
        if isinstance(environment.runner, WorkerRunner):
            self._start_worker(environment)
        else:
            samples_dir = Path(CONFIG["samples_dir"])
            self.writer = SampleWriter(samples_dir / f"samples-{PROC}.csv")
            self.canaries = CanaryFile(CONFIG["canary_path"])
        if CONFIG.get("target_rps"):
            self.pacer = Pacer(float(CONFIG["target_rps"]), now, CONFIG.get("schedule", "constant"),
                               f"{CONFIG['seed']}/{PROC}")
        if self.send is None:
            # Tells the harness when this process records, so it can take every other
            # measurement's snapshot at the same window edges (bench.traffic.launcher.EdgeTimer);
            # a worker's edges reach the master in its progress messages instead.
            write_json(Path(CONFIG["samples_dir"]) / f"window-{PROC}.json",
                       {"proc": PROC, "record_from": self.record_from, "record_to": self.record_to})
            gevent.spawn(self._stop_at_window_end, environment)

    def _start_worker(self, environment: Any) -> None:
        from bench.traffic import distributed

        self.send = distributed.worker_sender(environment)
        outbox = transport.Outbox(PROC, self.send)
        self.writer, self.canaries = outbox, transport.ChannelCanaries(PROC, self.send)
        gevent.spawn(distributed.pump, outbox, self.progress, self.send)
        gevent.spawn(self._window_timer, environment)

    def _window_timer(self, environment: Any) -> None:
        """A worker's window ends on time even if every user is stuck in a slow request."""
        gevent.sleep(max(0.0, self.record_from - time.time()))
        self.cpu_at_start = time.process_time()
        self._stop_at_window_end(environment)

    def _stop_at_window_end(self, environment: Any) -> None:
        # By the wall clock, whether or not a user is free to notice: every one of them may be
        # waiting on a server that hangs (etcd gone, a blocking audit webhook retrying). A
        # long gevent sleep may fire early (see bench.traffic.launcher), so it is polled.
        while not self.stopping and time.time() < self.record_to:
            gevent.sleep(min(0.05, max(0.0, self.record_to - time.time())))
        self._begin_stop(environment)

    def progress(self) -> dict[str, Any]:
        return {"proc": PROC, "pid": os.getpid(), "host": socket.gethostname(), "now": time.time(),
                "started_at": self.started_at, "record_from": self.record_from, "record_to": self.record_to,
                "recorded": self.recorded, "canaries": getattr(self.canaries, "count", 0),
                "warmup": self.warmup, "failures": self.failures,
                "late_slots": self.pacer.late if self.pacer else 0}

    def should_stop(self) -> bool:
        return self.stopping or time.time() >= self.record_to or self.full()

    def full(self) -> bool:
        max_requests = CONFIG.get("max_requests")
        return bool(max_requests) and self.recorded >= max_requests

    def stop_users(self, environment: Any) -> None:
        """The window is over (or the request count reached): stop this user."""
        self._begin_stop(environment)
        raise StopUser()

    def _begin_stop(self, environment: Any) -> None:
        """No request starts after this. After the drain a single process quits; a worker
        reports to the master, which ends the run once every worker has."""
        if self.stopping:
            return
        self.stopping = True
        self.stopped_at = min(time.time(), self.record_to)
        if isinstance(environment.runner, LocalRunner) or self.send is not None:
            gevent.spawn(self._end_after_drain, environment)

    def _end_after_drain(self, environment: Any) -> None:
        # Users stop at their next send; the ones waiting for an answer get DRAIN_S for it.
        deadline = time.time() + DRAIN_S
        while len(self.in_flight) and time.time() < deadline:
            gevent.sleep(0.02)
        if self.send is not None:
            self.send_done(environment)
        else:
            environment.runner.quit()

    def begin(self, req: Req) -> None:
        now = time.time()
        slot = getattr(CURRENT, "slot", None)
        self.in_flight.begin(gevent.getcurrent(), now, req.cls, req.method,
                             max(0.0, (now - slot) * 1000.0) if slot is not None else 0.0)

    def _flush_in_flight(self) -> None:
        """Requests of the window still unanswered: failed rows (status UNFINISHED)."""
        if self.writer is not None:
            self.unfinished += self.in_flight.flush_unfinished(self.writer, self.record_from, self.record_to, time.time())

    def on_request(self, name: str, request_type: str, response_time: float, response_length: int,
                   start_time: float | None, response: Any, exception: Any) -> None:
        self.in_flight.end(gevent.getcurrent())  # the event fires in the sending greenlet
        if self.writer is None:
            return
        t = start_time if start_time is not None else time.time() - response_time / 1000.0
        if t < self.record_from:
            self.warmup += 1
            return
        if t >= self.record_to or self.full():
            # By start: an answer during the drain still counts. A bounded request count is
            # exact: in-flight extras are not recorded.
            self.after_window += 1
            return
        status = getattr(response, "status_code", 0) or 0
        ok = exception is None
        if not ok:
            self.failures += 1
        slot = getattr(CURRENT, "slot", None)
        lag_ms = max(0.0, (t - slot) * 1000.0) if slot is not None else 0.0
        self.writer.add(t, name, request_type, float(response_time), int(status), int(response_length or 0), ok, lag_ms)

    def summary(self, environment: Any) -> dict[str, Any]:
        end = self.stopped_at if self.stopped_at is not None else min(time.time(), self.record_to)
        users = environment.runner.user_count if environment.runner is not None else 0
        return {
            "proc": PROC, "pid": os.getpid(), "host": socket.gethostname(), "users": users,
            "started_at": self.started_at, "record_from": self.record_from, "record_to": end,
            "recorded": self.recorded, "failures": self.failures + self.unfinished, "unfinished": self.unfinished,
            "warmup": self.warmup,
            "after_window": self.after_window, "target_rps": CONFIG.get("target_rps"),
            "late_slots": self.pacer.late if self.pacer else 0,
            "max_lateness_s": self.pacer.max_lateness if self.pacer else 0.0,
            "samples": f"samples-{PROC}.csv",
            "content_types": self.content_types,
        }

    def send_done(self, environment: Any) -> None:
        """A worker's last word: every remaining row, then its own tally for the master to check."""
        if self.done_sent or self.send is None or not isinstance(self.writer, transport.Outbox):
            return
        self.done_sent = True
        self._flush_in_flight()
        self.writer.close()
        doc = self.summary(environment)
        doc.update(tally=self.writer.tally.as_dict(), canaries=getattr(self.canaries, "count", 0),
                   cpu_s=time.process_time() - self.cpu_at_start if self.cpu_at_start is not None else None,
                   clock_offset_s=CONFIG.get("clock_offset_s"))
        self.send(transport.MSG_DONE, doc)
        # For whoever runs this worker: counts and the digest, never a canary.
        print("auditbench worker summary " + transport.dumps(
            {"proc": PROC, "tally": doc["tally"], "canaries": doc["canaries"], "chunks": self.writer.seq}), flush=True)

    def finish(self, environment: Any) -> None:
        if self.finished or self.writer is None:
            return
        self.finished = True
        self.watches.kill(block=False)
        if self.send is not None:
            self.send_done(environment)
            return
        self._flush_in_flight()
        doc = self.summary(environment)
        self.writer.close()
        if self.canaries is not None:
            self.canaries.close()
        write_json(Path(CONFIG["samples_dir"]) / f"proc-{PROC}.json", doc)


STATE = ProcessState()


def _drain(response: Any) -> None:
    """Hold a watch open until the server ends it (timeoutSeconds) or the run stops."""
    try:
        for _ in response.iter_content(chunk_size=65536, decode_content=False):
            pass
    except Exception:  # noqa: BLE001 - a broken watch stream only ends the watch
        pass
    finally:
        inner = getattr(response, "_response", None)
        if inner is not None:
            inner.release()


@events.init.add_listener
def _on_init(environment: Any, **_: Any) -> None:
    if isinstance(environment.runner, MasterRunner):
        from bench.traffic import distributed

        # The master writes what its workers send into the run's files, as one process would.
        collector = transport.Collector(CONFIG, CanaryFile(CONFIG["canary_path"]), int(CONFIG["workers"]))
        distributed.install_master(environment, collector)
        MASTER["collector"] = collector


MASTER: dict[str, transport.Collector] = {}


@events.test_start.add_listener
def _on_test_start(environment: Any, **_: Any) -> None:
    if not isinstance(environment.runner, MasterRunner):
        STATE.start(environment)


@events.request.add_listener
def _on_request(request_type: str, name: str, response_time: float, response_length: int,
                response: Any = None, exception: Any = None, start_time: float | None = None, **_: Any) -> None:
    STATE.on_request(name, request_type, response_time, response_length, start_time, response, exception)


@events.test_stopping.add_listener
def _on_test_stopping(environment: Any, **_: Any) -> None:
    if STATE.stopped_at is None and STATE.writer is not None:
        STATE.stopped_at = min(time.time(), STATE.record_to)
    STATE.watches.kill(block=False)


@events.test_stop.add_listener
def _on_test_stop(environment: Any, **_: Any) -> None:
    _finish(environment)


@events.quitting.add_listener
def _on_quitting(environment: Any, **_: Any) -> None:
    _finish(environment)


def _finish(environment: Any) -> None:
    if not isinstance(environment.runner, MasterRunner):
        STATE.finish(environment)
    elif "collector" in MASTER:
        MASTER["collector"].finish()


class KubeUser(FastHttpUser):
    """A client of the apiserver; each request is performed as the identity its class names."""

    host = CONFIG["server"]
    insecure = False  # verification stays on: the context trusts only the cluster CA
    ssl_context_factory = staticmethod(ssl_context)
    network_timeout = 30.0
    connection_timeout = 10.0
    concurrency = 2
    max_retries = 0
    default_headers = {"User-Agent": TRAFFIC_AGENT}
    wait_time = constant(0)

    def on_start(self) -> None:
        index = next(STATE.user_ids)
        owner = f"p{PROC}u{index}"
        rng = random.Random(f"{CONFIG['seed']}/{PROC}/{index}")
        assert STATE.canaries is not None, "test_start did not run"
        self.kubelet: Kubelet | None = None
        watch_timeout = PROFILE.watch_timeout_s + 30.0
        if PROFILE.kubelet is not None:  # this user is one simulated node
            # registrations spread over the first half of the warm-up, as a fleet's are not all at once
            start = time.time() + rng.uniform(0.0, float(CONFIG["warmup_s"]) / 2)
            self.kubelet = Kubelet(f"{LAYOUT.prefix}-node-{owner}", USERS["node"][0], rng, start=start)
            self.actor = self.kubelet
            watch_timeout = WATCH_TIMEOUT_S[1] + 60.0  # a reflector's watch stays open for minutes
        else:
            self.actor = Actor(PROFILE, LAYOUT, owner, rng, STATE.canaries, USERS, inert=bool(CONFIG.get("inert")))
        # Watches get their own connections, so a held stream never delays other requests.
        self.watch_client = FastHttpSession(
            base_url=self.host, request_event=self.environment.events.request, user=self,
            insecure=False, ssl_context_factory=ssl_context, concurrency=64,
            network_timeout=watch_timeout, connection_timeout=10.0,
            headers=dict(self.default_headers),
        )

    def _kubelet_step(self, kubelet: Kubelet) -> None:
        at, reqs = kubelet.next()
        delay = at - time.time()
        if delay > 0:
            gevent.sleep(delay)
        for req in reqs:
            if STATE.should_stop():
                STATE.stop_users(self.environment)
            self._send(req)

    @task
    def step(self) -> None:
        if self.kubelet is not None:
            self._kubelet_step(self.kubelet)
            return
        cls = self.actor.pick()
        for req in self.actor.plan(cls):
            # Paced per request, not per plan: a plan may send a prerequisite first.
            if STATE.pacer is not None:
                STATE.pacer.wait()
            if STATE.should_stop():
                STATE.stop_users(self.environment)
            self._send(req)

    def _send(self, req: Req) -> None:
        headers = {**AUTH[self.actor.identity(req.cls)], "Accept": "application/json", **req.headers}
        data = req.data()
        if data is not None:
            headers["Content-Type"] = req.content_type or "application/json"
        STATE.count_types(req.cls, headers.get("Content-Type", "") if data is not None else "", headers["Accept"])
        session = self.watch_client if req.stream else self.client
        STATE.begin(req)
        with session.request(req.method, req.path, name=req.cls, data=data, headers=headers,
                             catch_response=True, stream=req.stream) as resp:
            status = resp.status_code
            if is_ok(req.cls, status):
                resp.success()
            else:
                resp.failure(f"HTTP {status}")
        body = resp.content if req.wants_body and status else None
        if req.after is not None:
            req.after(status, body)
        if req.stream:
            if status == 200 and not STATE.stopping:
                STATE.watches.spawn(_drain, resp)
            elif getattr(resp, "_response", None) is not None:
                resp._response.release()
