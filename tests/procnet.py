"""Listening TCP sockets of given processes, read from /proc (for the security tests).

/proc/net/tcp and tcp6 list every socket in the network namespace with its inode; a process
owns the sockets whose inodes its /proc/<pid>/fd links name ("socket:[<inode>]").
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

LISTEN = "0A"


@dataclass(frozen=True)
class Listener:
    pid: int
    address: ipaddress.IPv4Address | ipaddress.IPv6Address
    port: int

    @property
    def loopback(self) -> bool:
        addr = self.address
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        return addr.is_loopback


def decode_address(hex_addr: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]:
    """"0100007F:1F90" -> (127.0.0.1, 8080); the kernel prints each 32-bit word in host (little-endian) order."""
    host, port = hex_addr.split(":")
    raw = bytes.fromhex(host)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return ipaddress.ip_address(words), int(port, 16)


def listening_inodes(table: str) -> dict[int, tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]]:
    """inode -> (address, port) of the LISTEN rows of a /proc/net/tcp{,6} text."""
    out = {}
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 9 and fields[3] == LISTEN:
            out[int(fields[9])] = decode_address(fields[1])
    return out


def socket_inodes(pid: int, proc: Path = Path("/proc")) -> set[int]:
    inodes = set()
    try:
        fds = list((proc / str(pid) / "fd").iterdir())
    except OSError:
        return inodes
    for fd in fds:
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def listeners(pids: list[int], proc: Path = Path("/proc")) -> list[Listener]:
    table: dict[int, tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]] = {}
    for name in ("tcp", "tcp6"):
        try:
            table.update(listening_inodes((proc / "net" / name).read_text()))
        except OSError:
            continue
    found = []
    for pid in pids:
        for inode in socket_inodes(pid, proc):
            if inode in table:
                found.append(Listener(pid, *table[inode]))
    return found
