"""Free TCP ports on loopback."""

from __future__ import annotations

import socket


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Ask the kernel for ``count`` distinct free ports on ``host``.

    All sockets stay open until every port is chosen, so the kernel never hands the
    same port out twice; a small race with other processes remains, which callers
    absorb by retrying a start that fails to bind.
    """
    if not host.startswith("127.") and host not in ("::1", "localhost"):
        raise ValueError(f"refusing non-loopback host {host!r}")
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()
