"""Listening TCP sockets from /proc/net/tcp and tcp6, and which processes own them.

Read from the kernel's own tables rather than from `ss`, whose absence or missing
permission to show process ids would make a check pass by finding nothing.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path

_LISTEN = "0A"


@dataclass(frozen=True)
class Listener:
    address: str  # "127.0.0.1", "::1", "0.0.0.0", ...
    port: int
    inode: int

    @property
    def loopback(self) -> bool:
        return ipaddress.ip_address(self.address).is_loopback


def _address(hex_addr: str) -> str:
    raw = bytes.fromhex(hex_addr)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    # IPv6: four 32-bit words, each in host (little-endian) order.
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    addr = ipaddress.ip_address(words)
    return str(addr.ipv4_mapped or addr)


def listeners(proc: Path = Path("/proc")) -> list[Listener]:
    out = []
    for table in ("net/tcp", "net/tcp6"):
        path = proc / table
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != _LISTEN:
                continue
            addr, port = fields[1].split(":")
            out.append(Listener(_address(addr), int(port, 16), int(fields[9])))
    return out


def socket_inodes(pid: int) -> set[int]:
    """Inodes of the sockets process ``pid`` has open."""
    inodes = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in fd_dir.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def listeners_of(pid: int) -> list[Listener]:
    owned = socket_inodes(pid)
    return [entry for entry in listeners() if entry.inode in owned]
