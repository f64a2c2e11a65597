"""Locust entry point for auditbench traffic. Runs only inside the Locust process.

Started by bench.traffic.launcher (never imported by the orchestrator: importing locust
monkey-patches the interpreter with gevent). Configuration comes from the JSON file named
by AB_TRAFFIC_CONFIG; AB_PROC_INDEX tells processes of a distributed run apart.

Every request is recorded by a request-event listener at full resolution (Locust's
FastHttpUser reports response_time as a float of perf_counter milliseconds) into this
process's CSV sample file; requests that start during the warm-up are only counted.
"""

from __future__ import annotations

import itertools
import json
import os
import random
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
from locust.runners import LocalRunner, MasterRunner

from bench.agents import TRAFFIC_AGENT
from bench.atomic import write_json
from bench.controlplane.identities import read_identities_json
from bench.traffic.actions import Actor, Req, is_ok
from bench.traffic.canary import CanaryFile
from bench.traffic.catalog import ANONYMOUS
from bench.traffic.kubelet import WATCH_TIMEOUT_S, Kubelet
from bench.traffic.layout import Layout
from bench.traffic.profiles import load_profile
from bench.traffic.recorder import SampleWriter
from bench.traffic.schedule import Schedule

CONFIG: dict[str, Any] = json.loads(Path(os.environ["AB_TRAFFIC_CONFIG"]).read_text())
PROC = int(os.environ.get("AB_PROC_INDEX", "0"))
PROFILE = load_profile(CONFIG["profile"], CONFIG["profiles_file"])
LAYOUT = Layout(CONFIG["prefix"], CONFIG["seeds"], CONFIG.get("bulk_count", 0), CONFIG.get("bulk_size_kb", 0.0))

if urlparse(CONFIG["server"]).hostname not in ("127.0.0.1", "::1", "localhost"):
    raise SystemExit(f"refusing non-loopback server {CONFIG['server']}")


def _auth_headers() -> dict[str, dict[str, str]]:
    idents = read_identities_json(Path(CONFIG["identities_file"]))
    out = {name: {"Authorization": f"Bearer {i.token}"} for name, i in idents.items()}
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
        self.writer: SampleWriter | None = None
        self.canaries: CanaryFile | None = None
        self.started_at = 0.0
        self.record_from = 0.0
        self.record_to = 0.0
        self.stopped_at: float | None = None
        self.warmup = 0
        self.after_window = 0
        self.failures = 0
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
        samples_dir = Path(CONFIG["samples_dir"])
        self.writer = SampleWriter(samples_dir / f"samples-{PROC}.csv")
        self.canaries = CanaryFile(CONFIG["canary_path"])
        if CONFIG.get("target_rps"):
            self.pacer = Pacer(float(CONFIG["target_rps"]), now, CONFIG.get("schedule", "constant"),
                               f"{CONFIG['seed']}/{PROC}")
        # Tells the harness when this process records, so it can take every other
        # measurement's snapshot at the same window edges (bench.traffic.launcher.EdgeTimer).
        write_json(samples_dir / f"window-{PROC}.json",
                   {"proc": PROC, "record_from": self.record_from, "record_to": self.record_to})

    def should_stop(self) -> bool:
        max_requests = CONFIG.get("max_requests")
        return time.time() >= self.record_to or (bool(max_requests) and self.recorded >= max_requests)

    def stop_users(self, environment: Any) -> None:
        """The window is over: stop this process's users (and the whole run when local)."""
        if not self.stopping:
            self.stopping = True
            self.stopped_at = min(time.time(), self.record_to)
            if isinstance(environment.runner, LocalRunner):
                gevent.spawn(environment.runner.quit)
        raise StopUser()

    def on_request(self, name: str, request_type: str, response_time: float, response_length: int,
                   start_time: float | None, response: Any, exception: Any) -> None:
        if self.writer is None:
            return
        t = start_time if start_time is not None else time.time() - response_time / 1000.0
        if t < self.record_from:
            self.warmup += 1
            return
        if t >= self.record_to or self.stopping:
            self.after_window += 1
            return
        status = getattr(response, "status_code", 0) or 0
        ok = exception is None
        if not ok:
            self.failures += 1
        slot = getattr(CURRENT, "slot", None)
        lag_ms = max(0.0, (t - slot) * 1000.0) if slot is not None else 0.0
        self.writer.add(t, name, request_type, float(response_time), int(status), int(response_length or 0), ok, lag_ms)

    def finish(self, environment: Any) -> None:
        if self.finished or self.writer is None:
            return
        self.finished = True
        end = self.stopped_at if self.stopped_at is not None else min(time.time(), self.record_to)
        self.watches.kill(block=False)
        self.writer.close()
        if self.canaries is not None:
            self.canaries.close()
        users = environment.runner.user_count if environment.runner is not None else 0
        write_json(Path(CONFIG["samples_dir"]) / f"proc-{PROC}.json", {
            "proc": PROC, "pid": os.getpid(), "users": users,
            "started_at": self.started_at, "record_from": self.record_from, "record_to": end,
            "recorded": self.recorded, "failures": self.failures, "warmup": self.warmup,
            "after_window": self.after_window, "target_rps": CONFIG.get("target_rps"),
            "late_slots": self.pacer.late if self.pacer else 0,
            "max_lateness_s": self.pacer.max_lateness if self.pacer else 0.0,
            "samples": f"samples-{PROC}.csv",
            "content_types": self.content_types,
        })


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
    if not isinstance(environment.runner, MasterRunner):
        STATE.finish(environment)


@events.quitting.add_listener
def _on_quitting(environment: Any, **_: Any) -> None:
    if not isinstance(environment.runner, MasterRunner):
        STATE.finish(environment)


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
            self.actor = Actor(PROFILE, LAYOUT, owner, rng, STATE.canaries, USERS)
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
