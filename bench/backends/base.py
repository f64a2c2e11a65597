"""What a backend gives the orchestrator, and what it can and cannot measure.

A backend is one cluster for one variant: the local control plane (bench.backends.local), a
fresh kind cluster (bench.backends.kind) or a cluster someone else runs (bench.backends.external).
bench.measure.variant drives every backend through the same calls:

    receiver = backend.start_receiver(variant, scratch, seed, cpus)   # before the cluster: its URL goes in the flags
    with backend:                                                     # up ... down (always, also on Ctrl-C)
        backend.server / ca_file / identities_file / client(...)      # what traffic and measurements talk to
        ...
    backend.exit_records(), backend.sigterm_at                        # how the apiserver ended, if we ended it

and picks the measurements whose ``needs`` the backend's Capabilities provide, so no
measurement or orchestration step asks "which backend is this?".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from bench.controlplane.http import Client

AS_CONFIGURED = "as-configured"  # the policy axis of a cluster whose audit settings auditbench never changes


@dataclass(frozen=True)
class Capabilities:
    """What the harness can read on this backend (a measurement's ``needs`` names one field)."""

    process: bool  # /proc CPU and memory of the apiserver and etcd: their processes run on this machine
    metrics: bool  # kube-apiserver /metrics is readable (server latency, audit counters, process_cpu_seconds_total)
    audit_log: bool  # the audit log files are readable from this machine
    webhook: bool  # a receiver run by the harness gets the apiserver's webhook batches
    component_logs: bool  # control-plane component logs to search for canaries
    sigterm_flush: bool  # the harness stops the apiserver with SIGTERM, which flushes its audit backends
    audit_settings: str  # "variant": the scenario's audit flags are applied; AS_CONFIGURED: left as they are

    def provides(self, need: str) -> bool:
        if not need:
            return True
        if need == "audit_sink":  # anything the canary check can search
            return self.audit_log or self.webhook or self.component_logs
        return bool(getattr(self, need))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Backend(Protocol):
    """One cluster for one variant (see the module docstring for the order of calls)."""

    name: str
    pins_control_plane: bool  # its control plane runs on this machine's CPUs, apart from the load side
    receiver: Any  # bench.webhook.receiver.Receiver | None

    def at(self, scratch: Path, control_plane_cpus: set[int] | None, nice: int | None = None) -> Backend: ...

    def capabilities(self) -> Capabilities: ...

    def start_receiver(self, variant: Any, scratch: Path, seed: int, cpus: set[int] | None) -> Any: ...

    def __enter__(self) -> Backend: ...

    def __exit__(self, *exc: object) -> None: ...

    def stop(self) -> None: ...

    # while up
    @property
    def server(self) -> str: ...

    @property
    def ca_file(self) -> Path: ...

    @property
    def identities_file(self) -> Path: ...

    @property
    def audit_log_path(self) -> Path | None: ...

    @property
    def logs_dir(self) -> Path | None: ...

    @property
    def ready_s(self) -> float: ...

    def client(self, identity: str = "admin", timeout: float = 10.0, purpose: str = "") -> Client: ...

    def cluster_info(self) -> Any: ...  # bench.traffic.launcher.ClusterInfo

    def traffic_options(self) -> dict[str, Any]: ...  # extra run_traffic arguments (scope)

    def pids(self) -> dict[str, int]: ...

    def died(self) -> list[str]: ...

    def apiserver_flags(self) -> list[str]: ...

    # after stop
    def exit_records(self) -> dict[str, dict[str, Any]]: ...

    @property
    def sigterm_at(self) -> float | None: ...

    def versions(self) -> dict[str, Any]: ...

    def run_metadata(self) -> dict[str, Any]: ...


def measurements_for(names: tuple[str, ...], caps: Capabilities) -> list[str]:
    """The measurements (in their order) whose needs this backend provides."""
    from bench.measure.base import REGISTRY

    return [n for n in names if caps.provides(REGISTRY[n].needs)]


def livez_down(client: Client) -> list[str]:
    """A remote apiserver's liveness from its /livez (no pid to watch): [] when alive, else why
    it counts as dead. Closes the client."""
    try:
        status = client.get("/livez").status
    except Exception as exc:  # noqa: BLE001 - unreachable counts as down
        return [f"kube-apiserver (/livez: {type(exc).__name__})"]
    finally:
        client.close()
    return [] if status == 200 else [f"kube-apiserver (/livez HTTP {status})"]
