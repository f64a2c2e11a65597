"""The audit webhook receiver process: HTTPS on loopback, one asyncio loop, aiohttp's C parser.

Run only through bench.webhook.receiver.Receiver, which starts it as
``python -m bench.webhook.server CONFIG_JSON`` and talks to it over stdin/stdout:
one JSON line per command ({"cmd": "stats" | "stop" | "down", ...}), one JSON line per reply.
Its own process keeps its CPU and GIL away from the harness and Locust.

It exits by itself when the harness dies: stdin reaches EOF (the harness held the only
write end) or the parent pid changes (polled every second, for the case where a forked
child of the harness still holds the pipe). PR_SET_PDEATHSIG is not used: it fires when the
*thread* that spawned us exits, which would kill the receiver if the harness started it
from a worker thread.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import ssl
import sys
import time
from dataclasses import dataclass
from typing import Any

import msgspec
from aiohttp import web
from aiohttp.web_request import BaseRequest

from bench.webhook.stats import EventListHead, EventListRaw, WebhookStats

_MAX_BODY = 512 << 20  # no truncation by default upstream: 400 RequestResponse events can be large
_HEAD = msgspec.json.Decoder(EventListHead)
_RAW = msgspec.json.Decoder(EventListRaw)
_ACCEPTED_VERSION = "audit.k8s.io/v1"


@dataclass
class Config:
    host: str
    port: int
    cert: str
    key: str
    capture: str
    delay_ms: float = 0.0
    error_rate: float = 0.0
    seed: int = 0
    down_after_s: float | None = None
    down_for_s: float = 0.0

    @classmethod
    def from_json(cls, text: str) -> Config:
        return cls(**json.loads(text))


class Receiver:
    """Request handling, fault injection and the listener's up/down state."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.stats = WebhookStats()
        self.rng = random.Random(cfg.seed)
        # Truncated: the file holds exactly what this receiver's counters count.
        # 0600 like the apiserver's own audit log: the events may carry request bodies.
        fd = os.open(cfg.capture, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        self.capture = open(fd, "wb", buffering=1 << 20)
        self.ssl = _ssl_context(cfg.cert, cfg.key)
        self.http: web.Server | None = None
        self.listener: asyncio.base_events.Server | None = None
        self.port = cfg.port
        self.down_until: float | None = None
        self.down_periods: list[list[float]] = []
        self.fault_changes: list[list[float]] = []  # [unix t, delay_ms, error_rate] set at run time
        self.in_flight = 0

    # --- HTTP --------------------------------------------------------------------------
    async def handle(self, request: BaseRequest) -> web.StreamResponse:
        if request.method == "GET" and request.path == "/healthz":
            return web.Response(text="ok")
        self.in_flight += 1
        try:
            return await self._handle(request)
        finally:
            self.in_flight -= 1

    async def _handle(self, request: BaseRequest) -> web.StreamResponse:
        if request.method != "POST":
            self.stats.record_error(405)
            return web.Response(status=405)
        body = await request.content.read()
        received_at = round(time.time(), 6)  # as written to the capture file
        if self.cfg.error_rate > 0 and self.rng.random() < self.cfg.error_rate:
            self.stats.record_error(500, _count_events(body))
            return web.Response(status=500, text="injected error")
        try:
            head = _HEAD.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self.stats.record_error(400)
            return web.Response(status=400, text=f"not an EventList: {exc}")
        if head.apiVersion != _ACCEPTED_VERSION or head.kind != "EventList":
            self.stats.record_error(400, len(head.items or []))
            return web.Response(status=400, text=f"want {_ACCEPTED_VERSION} EventList")
        events = head.items or []
        self.stats.record_batch(received_at, len(body), events)
        self._capture(received_at, body, bool(events))
        if self.cfg.delay_ms > 0:
            await asyncio.sleep(self.cfg.delay_ms / 1000.0)
        return web.Response(status=200)

    def _capture(self, received_at: float, body: bytes, has_events: bool) -> None:
        """Append the batch's items array, byte for byte as sent, without copying it."""
        items = items_span(body) if has_events else None
        if items:
            view: memoryview | bytes = memoryview(body)[items[0]:items[1]]
        else:
            # JSON strings cannot hold raw line breaks, so any in the array are whitespace:
            # blanking them keeps one batch per line and every value's bytes unchanged.
            raw = bytes(_RAW.decode(body).items) if has_events else b"[]"
            view = raw.replace(b"\r", b" ").replace(b"\n", b" ")
        write = self.capture.write
        write(b'{"received_at":%.6f,"bytes":%d,"events":' % (received_at, len(body)))
        write(view)
        write(b"}\n")

    def snapshot(self) -> dict[str, Any]:
        snap = self.stats.snapshot()
        snap["faults"] = {
            "delay_ms": self.cfg.delay_ms, "error_rate": self.cfg.error_rate, "seed": self.cfg.seed,
            "down_periods": [list(p) for p in self.down_periods],
            "changes": [list(c) for c in self.fault_changes],
        }
        return snap

    # --- listener ----------------------------------------------------------------------
    async def listen(self) -> None:
        loop = asyncio.get_running_loop()
        if self.http is None:
            self.http = web.Server(self.handle, request_factory=self._request, access_log=None, loop=loop)
        self.listener = await loop.create_server(
            self.http, self.cfg.host, self.port, ssl=self.ssl, reuse_address=True, backlog=1024,
        )
        self.port = self.listener.sockets[0].getsockname()[1]

    def _request(self, message, payload, protocol, writer, task) -> BaseRequest:  # type: ignore[no-untyped-def]
        return BaseRequest(message, payload, protocol, writer, task, asyncio.get_running_loop(), client_max_size=_MAX_BODY)

    def set_faults(self, delay_ms: Any, error_rate: Any) -> dict[str, Any]:
        """Change the delay and error rate from now on (a slow or erroring stretch)."""
        try:
            delay, rate = float(delay_ms), float(error_rate)
        except (TypeError, ValueError):
            return {"error": "faults needs numeric delay_ms and error_rate"}
        if delay < 0 or not 0.0 <= rate <= 1.0:
            return {"error": "delay_ms must be >= 0 and error_rate in [0, 1]"}
        self.cfg.delay_ms, self.cfg.error_rate = delay, rate
        self.fault_changes.append([round(time.time(), 6), delay, rate])
        return {"ok": True}

    async def go_down(self, seconds: float) -> None:
        """Like a crashed receiver: the listener closes (new connections are refused) and open
        connections are reset, until ``seconds`` have passed."""
        if self.listener is None:
            return
        start = time.time()
        self.down_until = time.monotonic() + seconds
        self.listener.close()
        self.listener = None
        assert self.http is not None
        for handler in self.http.connections:
            if handler.transport is not None:
                handler.transport.abort()
        self.capture.flush()
        await asyncio.sleep(seconds)
        await self.listen()
        self.down_until = None
        self.down_periods.append([round(start, 6), round(time.time(), 6)])

    async def close(self, grace: float = 5.0) -> None:
        """Stop listening, let batches in flight finish (bounded), then drop idle keep-alive
        connections at once (aiohttp's shutdown would wait out its timeout on them)."""
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        deadline = time.monotonic() + grace
        while self.in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if self.http is not None:
            self.http.pre_shutdown()
            await self.http.shutdown(0.5)
        self.capture.flush()
        self.capture.close()


def items_span(body: bytes) -> tuple[int, int] | None:
    """Where the items array is in an already validated EventList body, when it has the
    shape Go's encoder gives it (items is the last field: {"kind",...,"items":[...]}).
    None for any other shape; the caller then lets msgspec find it (slower, exact)."""
    start = body.find(b'"items":[')
    last = len(body) - 1
    while last > 0 and body[last] in b" \t\r\n":  # no rstrip(): it would copy the body
        last -= 1
    end = last - 1
    while end > 0 and body[end] in b" \t\r\n":
        end -= 1
    if start < 0 or body[last] != ord("}") or body[end] != ord("]"):
        return None
    # "items" must be a top-level key: nothing before it may open an object or array except
    # the list's own "{" and its "metadata":{...} (which holds no brackets in practice).
    prefix = body[:start]
    if prefix.count(b"[") or prefix.count(b"{") - prefix.count(b"}") != 1:
        return None
    return start + len(b'"items":'), end + 1


def _count_events(body: bytes) -> int:
    try:
        return len(_HEAD.decode(body).items or [])
    except (msgspec.DecodeError, msgspec.ValidationError):
        return 0


def _ssl_context(cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    # The apiserver's client offers h2 and http/1.1 via ALPN; aiohttp speaks HTTP/1.1.
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def _reply(doc: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(doc) + "\n")
    sys.stdout.flush()


async def _control(recv: Receiver, done: asyncio.Event) -> None:
    """Commands from the harness on stdin; EOF means the harness is gone."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while not done.is_set():
        line = await reader.readline()
        if not line:
            break
        try:
            cmd = json.loads(line)
        except ValueError:
            _reply({"error": "bad command"})
            continue
        name = cmd.get("cmd")
        if name == "stats":
            _reply(recv.snapshot())
        elif name == "down":
            loop.create_task(recv.go_down(float(cmd.get("seconds", 0))))
            _reply({"ok": True})
        elif name == "faults":
            _reply(recv.set_faults(cmd.get("delay_ms"), cmd.get("error_rate")))
        elif name == "stop":
            break
        else:
            _reply({"error": f"unknown command {name!r}"})
    done.set()


async def _watch_parent(done: asyncio.Event) -> None:
    parent = os.getppid()
    while not done.is_set():
        if os.getppid() != parent:
            done.set()
            return
        await asyncio.sleep(1.0)


async def _scheduled_down(recv: Receiver, t0: float) -> None:
    cfg = recv.cfg
    if cfg.down_after_s is None or cfg.down_for_s <= 0:
        return
    await asyncio.sleep(max(0.0, t0 + cfg.down_after_s - time.monotonic()))
    await recv.go_down(cfg.down_for_s)


async def _flush_periodically(recv: Receiver) -> None:
    # Readers (the canary check, a curious user) see batches within a second.
    while True:
        await asyncio.sleep(1.0)
        recv.capture.flush()


async def serve(cfg: Config) -> None:
    recv = Receiver(cfg)
    await recv.listen()
    t0 = time.monotonic()
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, done.set)
    tasks = [
        loop.create_task(_control(recv, done)),
        loop.create_task(_watch_parent(done)),
        loop.create_task(_scheduled_down(recv, t0)),
        loop.create_task(_flush_periodically(recv)),
    ]
    _reply({"ready": True, "port": recv.port, "pid": os.getpid()})
    await done.wait()
    await recv.close()
    for task in tasks:
        task.cancel()
    try:
        _reply({"final": recv.snapshot()})
    except (BrokenPipeError, OSError):
        pass  # the harness is gone; nobody to tell


def main(argv: list[str]) -> None:
    # Ctrl-C in a terminal reaches the whole process group; the harness decides when we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    asyncio.run(serve(Config.from_json(argv[1])))


if __name__ == "__main__":
    main(sys.argv)
