"""Locust glue for bench.traffic.transport. Runs only inside Locust processes (imports gevent
and locust); the orchestrator never imports it.

Everything rides on Locust's own master/worker channel: the config request uses a short-lived
client exactly like Locust's `-f -` locustfile download (the worker needs the config before its
locustfile can define its users), and the rest are custom messages registered with
``runner.register_message`` and sent with ``runner.send_message``.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import gevent
from locust.rpc import Message, zmqrpc
from locust.runners import STATE_MISSING, MasterRunner

from bench.traffic import transport

log = logging.getLogger("auditbench.distributed")
WATCH_INTERVAL_S = 0.5


def fetch_config(host: str, port: int, join_key: str, timeout_s: float) -> dict[str, Any]:
    """Ask the master for the run's config, repeating the request until it answers (it may not
    be up yet); raises transport.ConfigError on a refusal or TimeoutError."""
    client_id = f"{socket.gethostname()}_ab_config_{uuid4().hex}"
    client = zmqrpc.Client(host, port, client_id)
    request = transport.config_request(join_key)
    answered = False

    def ask() -> None:
        while not answered:
            client.send(Message(transport.MSG_CONFIG, request, client_id))
            gevent.sleep(1.0)

    asker, receiver = gevent.spawn(ask), gevent.spawn(client.recv)
    try:
        msg = receiver.get(timeout=timeout_s)
    except gevent.Timeout:
        raise TimeoutError(f"no answer from the Locust master at {host}:{port} within {timeout_s:.0f}s") from None
    finally:
        answered = True
        asker.kill()
        receiver.kill()
        client.close(linger=0)  # unsent requests to an absent master must not hold the exit
    if msg.type != transport.MSG_CONFIG:
        raise transport.ConfigError(f"unexpected {msg.type!r} message from the master")
    return msg.data


def worker_sender(environment: Any) -> transport.Send:
    def send(msg_type: str, data: dict[str, Any]) -> None:
        environment.runner.send_message(msg_type, data)

    return send


def pump(outbox: transport.Outbox, progress: Callable[[], dict[str, Any]], send: transport.Send) -> None:
    """Worker greenlet: running counts every PROGRESS_INTERVAL_S, a partial chunk every FLUSH_INTERVAL_S."""
    last_flush = time.monotonic()
    while not outbox.closed:
        send(transport.MSG_PROGRESS, progress())
        if time.monotonic() - last_flush >= transport.FLUSH_INTERVAL_S:
            outbox.flush()
            last_flush = time.monotonic()
        gevent.sleep(transport.PROGRESS_INTERVAL_S)


def install_master(environment: Any, collector: transport.Collector) -> None:
    """Register the handlers on the master and end the run once every worker is accounted for."""
    runner: MasterRunner = environment.runner

    def on_config(environment: Any, msg: Message, **_: Any) -> None:
        reply = collector.on_config(msg.node_id, msg.data or {})
        if "error" in reply:
            log.warning("refused a config request from %s: %s", msg.node_id, reply["error"])
        runner.send_message(transport.MSG_CONFIG, reply, client_id=msg.node_id)

    def handler(method: Callable[[str, dict[str, Any]], None]) -> Callable[..., None]:
        def handle(environment: Any, msg: Message, **_: Any) -> None:
            method(msg.node_id, msg.data)
        return handle

    runner.register_message(transport.MSG_CONFIG, on_config)
    runner.register_message(transport.MSG_SAMPLES, handler(collector.on_samples))
    runner.register_message(transport.MSG_CANARIES, handler(collector.on_canaries))
    runner.register_message(transport.MSG_PROGRESS, handler(collector.on_progress))
    runner.register_message(transport.MSG_DONE, handler(collector.on_done))

    def alive(node_id: str) -> bool:
        node = runner.clients.get(node_id)
        return node is not None and node.state != STATE_MISSING

    def watch() -> None:
        while not collector.finished:
            gevent.sleep(WATCH_INTERVAL_S)
            if collector.accounted(alive):
                report = collector.finish()
                for w in report["workers"]:
                    if w["state"] == "lost":
                        log.warning("worker %d (%s) was lost: %d samples received, at least %d lost",
                                    w["proc"], w["host"], w["received"], w["lost_samples_at_least"])
                runner.quit()  # every window is over: end the run like a single process does
                return

    gevent.spawn(watch)
