import socket

import pytest

from bench.controlplane.ports import free_ports


def test_ports_are_distinct_and_bindable_on_loopback():
    ports = free_ports(8)
    assert len(set(ports)) == 8
    for port in ports:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))


def test_non_loopback_refused():
    with pytest.raises(ValueError):
        free_ports(1, host="0.0.0.0")
