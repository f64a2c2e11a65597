"""The /proc/net reader the loopback checks rely on finds real listeners and their owners."""

from __future__ import annotations

import os
import socket

import pytest

from tests.procnet import listeners, listeners_of


@pytest.mark.parametrize(("family", "host", "loopback"), [
    (socket.AF_INET, "127.0.0.1", True),
    (socket.AF_INET, "0.0.0.0", False),
    (socket.AF_INET6, "::1", True),
])
def test_a_listener_is_found_with_its_address_and_owner(family: int, host: str, loopback: bool) -> None:
    sock = socket.socket(family, socket.SOCK_STREAM)
    with sock:
        try:
            sock.bind((host, 0))
        except OSError:
            pytest.skip(f"cannot bind {host} on this machine")
        sock.listen()
        port = sock.getsockname()[1]
        mine = [entry for entry in listeners_of(os.getpid()) if entry.port == port]
        assert len(mine) == 1
        assert mine[0].address == host and mine[0].loopback is loopback


def test_a_closed_socket_is_not_listed() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
    assert all(entry.port != port for entry in listeners_of(os.getpid()))
    assert listeners()  # the table itself is read (this machine listens on something)
