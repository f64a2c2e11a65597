"""The /proc/net/tcp reader the security tests rely on: decoding, and a real listener found."""

from __future__ import annotations

import ipaddress
import os
import socket

from tests.procnet import Listener, decode_address, listeners, listening_inodes

TCP = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:9781 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 79665 1 0 100 0 0 10 0
   1: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1566 1 0 100 0 0 10 0
   2: 0100007F:84D7 0100007F:9781 01 00000000:00000000 00:00000000 00000000     0        0 78333 2 0 100 0 0 10 0
"""
TCP6 = """  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 555 1 0 100 0 0 10 0
   1: 00000000000000000000000000000000:1F91 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 556 1 0 100 0 0 10 0
   2: 0000000000000000FFFF00000100007F:1F92 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 557 1 0 100 0 0 10 0
"""


def test_decode_v4_and_v6() -> None:
    assert decode_address("0100007F:1F90") == (ipaddress.ip_address("127.0.0.1"), 8080)
    assert decode_address("00000000000000000000000001000000:1F90") == (ipaddress.ip_address("::1"), 8080)
    assert decode_address("0000000000000000FFFF00000100007F:0050")[0] == ipaddress.ip_address("::ffff:127.0.0.1")
    assert Listener(1, ipaddress.ip_address("::ffff:127.0.0.1"), 80).loopback
    assert not Listener(1, ipaddress.ip_address("::"), 80).loopback


def test_only_listen_rows() -> None:
    assert listening_inodes(TCP) == {79665: (ipaddress.ip_address("127.0.0.1"), 0x9781),
                                     1566: (ipaddress.ip_address("0.0.0.0"), 0x07E8)}
    rows = listening_inodes(TCP6)
    assert [rows[i][0] for i in (555, 556, 557)] == [ipaddress.ip_address(a) for a in ("::1", "::", "::ffff:127.0.0.1")]


def test_finds_this_process_listeners_and_tells_wildcard_from_loopback() -> None:
    with socket.socket() as lo, socket.socket() as anyaddr:
        lo.bind(("127.0.0.1", 0))
        lo.listen()
        anyaddr.bind(("0.0.0.0", 0))
        anyaddr.listen()
        found = {(str(x.address), x.port): x.loopback for x in listeners([os.getpid()])}
        assert found[("127.0.0.1", lo.getsockname()[1])] is True
        assert found[("0.0.0.0", anyaddr.getsockname()[1])] is False
