"""The local backend: the variant's own control plane (bench.controlplane.local) on loopback.

Everything is measurable here: the apiserver and etcd are this machine's processes (/proc),
their logs and the audit log are files in the scratch dir, and stopping the apiserver with
SIGTERM flushes its audit backends. This wrapper only adapts LocalCluster to the Backend calls;
it adds no step, so the local backend's figures are what they were before backends existed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.backends.base import Capabilities
from bench.controlplane.build import Binaries
from bench.controlplane.http import Client
from bench.controlplane.local import LocalCluster
from bench.measure.settings import audit_settings
from bench.traffic.launcher import ClusterInfo


class LocalBackend:
    name = "local"

    pins_control_plane = True  # its processes are ours: pinned apart from the load side

    def __init__(self, variant: Any, bins: Binaries, audit_log_dir: Path | None = None) -> None:
        self.variant, self.bins = variant, bins
        self.audit_log_root = audit_log_dir  # --audit-log-dir: each variant's log in its own directory under it
        self.scratch: Path | None = None
        self.cp_cpus: set[int] | None = None
        self.nice: int | None = None
        self.receiver: Any = None
        self.cluster: LocalCluster | None = None

    def at(self, scratch: Path, control_plane_cpus: set[int] | None, nice: int | None = None) -> LocalBackend:
        """Where this variant's files go, the CPUs its control plane runs on and at what priority."""
        self.scratch, self.cp_cpus, self.nice = scratch, control_plane_cpus, nice
        return self

    def capabilities(self) -> Capabilities:
        log = self.variant.policy_path is not None and self.variant.log is not None
        return Capabilities(process=True, metrics=True, audit_log=log, webhook=self.receiver is not None,
                            component_logs=True, sigterm_flush=True, audit_settings="variant")

    def start_receiver(self, variant: Any, scratch: Path, seed: int, cpus: set[int] | None) -> Any:
        from bench.webhook.receiver import Faults, Receiver

        wh = variant.webhook
        if wh is None or variant.policy_path is None:
            return None
        # Every fault (slow, failing, down) is timed from the window by the webhook measurement:
        # set-up runs against a healthy receiver.
        faults = Faults(seed=seed)
        self.receiver = Receiver.start_in(scratch / "webhook", faults, cpus=cpus, nice=self.nice)
        return self.receiver

    # --- lifecycle: the cluster's own ------------------------------------------------------
    def _cluster(self) -> LocalCluster:
        if self.cluster is None:
            assert self.scratch is not None, "at() first"
            log_dir = self.audit_log_root / self.scratch.name if self.audit_log_root is not None else None
            self.cluster = LocalCluster(audit=audit_settings(self.variant), binaries=self.bins,
                                        run_dir=self.scratch / "cluster",
                                        webhook_kubeconfig=self.receiver.kubeconfig_path if self.receiver else None,
                                        control_plane_cpus=self.cp_cpus, nice=self.nice, audit_log_dir=log_dir,
                                        scratch_paths=(self.scratch,) + ((log_dir,) if log_dir else ()))
        return self.cluster

    def __enter__(self) -> LocalBackend:
        self._cluster().start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """SIGTERM: the apiserver flushes its audit backends (idempotent, retried until done)."""
        if self.cluster is not None:
            self.cluster.stop()

    # --- while up -------------------------------------------------------------------------
    @property
    def server(self) -> str:
        return self._cluster().server

    @property
    def ca_file(self) -> Path:
        return self._cluster().ca_file

    @property
    def identities_file(self) -> Path:
        return self._cluster().identities_file

    @property
    def audit_log_path(self) -> Path | None:
        return self._cluster().audit_log_path

    @property
    def logs_dir(self) -> Path | None:
        return self._cluster().logs_dir

    @property
    def ready_s(self) -> float:
        return self._cluster().timings.total_s

    def client(self, identity: str = "admin", timeout: float = 10.0, purpose: str = "") -> Client:
        return self._cluster().client(identity, timeout=timeout, purpose=purpose)

    def cluster_info(self) -> ClusterInfo:
        return ClusterInfo(self.server, self.ca_file, self.identities_file)

    def traffic_options(self) -> dict[str, Any]:
        return {}

    def pids(self) -> dict[str, int]:
        cluster = self._cluster()
        return {"apiserver": cluster.apiserver.pid, "etcd": cluster.etcd.pid}

    def died(self) -> list[str]:
        return [c.name for c in self._cluster().children if not c.running()]

    def apiserver_flags(self) -> list[str]:
        return list(self._cluster().apiserver_argv[1:])

    # --- after stop -----------------------------------------------------------------------
    def exit_records(self) -> dict[str, dict[str, Any]]:
        cluster = self._cluster()
        return {name: {**e.as_dict(), "sigterm_at": cluster.sigterm_at.get(name)} for name, e in cluster.exits.items()}

    @property
    def sigterm_at(self) -> float | None:
        return self._cluster().sigterm_at.get("kube-apiserver")

    def versions(self) -> dict[str, Any]:
        return {"kubernetes_version": self.bins.kubernetes_version, "etcd_version": self.bins.etcd_version}

    def run_metadata(self) -> dict[str, Any]:
        return {}
