"""A trivial HTTPS endpoint on loopback: the fastest "apiserver" the traffic generator can meet.

`auditbench harness bench` points the real traffic (the same locustfile, TLS, tokens and
per-request sample recording) at it to find the load generator's own ceiling. It answers every
request at once with a small JSON list (201 for POST, 200 otherwise), which is all the traffic's
set-up, reads and teardown need. Run as ``python -m bench.harness.endpoint PORT CERT KEY`` in its
own process (a Child: pinned, and ended with the harness); prints "ready" once it listens.
"""

from __future__ import annotations

import asyncio
import signal
import ssl
import sys

from aiohttp import web
from aiohttp.web_request import BaseRequest

BODY = b'{"kind":"List","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[]}'


async def handle(request: BaseRequest) -> web.Response:
    await request.read()
    return web.Response(body=BODY, status=201 if request.method == "POST" else 200, content_type="application/json")


async def serve(port: int, cert: str, key: str) -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["http/1.1"])
    loop = asyncio.get_running_loop()
    server = web.Server(handle, access_log=None)
    listener = await loop.create_server(server, "127.0.0.1", port, ssl=ctx, backlog=1024)
    done = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, done.set)
    print("ready", flush=True)
    await done.wait()
    listener.close()
    await server.shutdown(0.5)


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), sys.argv[2], sys.argv[3]))
