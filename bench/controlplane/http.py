"""A minimal HTTPS client for the harness's own calls (readiness, setup, metrics).

Traffic under test goes through Locust, never through this client. Every call carries the
user agent HARNESS_AGENT, so the audit events the harness itself causes (readiness probes,
set-up, /metrics scrapes) can be counted apart from the traffic's (bench.logs.heads).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import urllib3

from bench.agents import HARNESS_AGENT


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)



def is_loopback(server: str) -> bool:
    host = urllib3.util.parse_url(server).host or ""
    return host.startswith("127.") or host in ("localhost", "::1", "[::1]")


class Client:
    """``cert``: a client certificate and key (a kubeconfig user without a token).
    ``allow_remote``: the user opted in to a server off this machine (external backend only)."""

    def __init__(self, server: str, ca_file: str, token: str | None = None, timeout: float = 10.0,
                 maxsize: int = 1, purpose: str = "", cert: tuple[str, str] | None = None,
                 allow_remote: bool = False) -> None:
        if not allow_remote and not is_loopback(server):
            raise ValueError(f"refusing to talk to non-loopback server {server}")
        self.server = server.rstrip("/")
        agent = f"{HARNESS_AGENT} ({purpose})" if purpose else HARNESS_AGENT
        self._headers = {"User-Agent": agent, **({"Authorization": f"Bearer {token}"} if token else {})}
        tls = {"cert_file": cert[0], "key_file": cert[1]} if cert else {}
        self._pool = urllib3.PoolManager(
            ca_certs=ca_file, cert_reqs="CERT_REQUIRED", timeout=urllib3.Timeout(total=timeout),
            retries=False, maxsize=maxsize, **tls,
        )

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Response:
        hdrs = dict(self._headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        resp = self._pool.request(method, self.server + path, body=data, headers=hdrs, preload_content=True)
        return Response(resp.status, resp.data, {k.lower(): v for k, v in resp.headers.items()})

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def get_timed(self, path: str) -> tuple[Response, float]:
        """GET, and the unix time the response headers arrived. A server that computes the
        whole answer before it writes (as /metrics gathers every metric, then encodes) has
        read its state just before that moment, not at the midpoint of a long transfer."""
        import time

        resp = self._pool.request("GET", self.server + path, headers=dict(self._headers), preload_content=False)
        headers_at = time.time()
        try:
            body = resp.read()
        finally:
            resp.release_conn()
        return Response(resp.status, body, {k.lower(): v for k, v in resp.headers.items()}), headers_at

    def post(self, path: str, body: Any) -> Response:
        return self.request("POST", path, body)

    def close(self) -> None:
        self._pool.clear()
