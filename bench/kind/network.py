"""Which host address a kind node's kube-apiserver can reach the webhook receiver on.

Decision: the gateway of a docker network, not host.docker.internal. On Linux (GitHub Actions
runners, most users' CI) host.docker.internal resolves only in containers started with
--add-host=host.docker.internal:host-gateway, and kind's config has no way to add that. The
gateway of the `kind` network is the host's address on the nodes' bridge. Before the first
cluster that network may not exist yet (kind creates it), so the default `bridge` network's
gateway (docker0) is the fallback: it is also an address of the host, and a node container
reaches it through its own gateway. Both are private addresses; the receiver binds only there,
never on a wildcard. Docker Desktop (macOS, Windows) runs the engine in a VM where neither is
the user's machine: pass --webhook-address there (see docs/kind.md).
"""

from __future__ import annotations

import ipaddress
import json

from bench.errors import EnvironmentProblem
from bench.kind.commands import Runner, run


def network_gateway(network: str, runner: Runner = run) -> str | None:
    """The IPv4 gateway of a docker network, None if the network does not exist."""
    proc = runner(["docker", "network", "inspect", network, "--format", "{{json .IPAM.Config}}"], 30.0)
    if proc.returncode != 0:
        return None
    try:
        configs = json.loads(proc.stdout or "null") or []
    except json.JSONDecodeError:
        return None
    for cfg in configs:
        gateway = (cfg or {}).get("Gateway") or ""
        try:
            if ipaddress.ip_address(gateway).version == 4:
                return gateway
        except ValueError:
            continue
    return None


def receiver_address(runner: Runner = run) -> str:
    """The kind network's gateway, else the default bridge's."""
    for network in ("kind", "bridge"):
        gateway = network_gateway(network, runner)
        if gateway:
            return gateway
    raise EnvironmentProblem("found no docker network gateway for the webhook receiver",
                             "pass --webhook-address with a host address the kind node can reach")
