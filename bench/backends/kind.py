"""The kind backend for scenarios: every variant on a fresh kind cluster, deleted after it.

Per variant (bench.kind does the kind work: config, validation with kind's own code, create,
the manifest check, delete):

1. a webhook receiver on the docker network's gateway (the node reaches the host there);
2. the kind config with the variant's audit flags, plus a --token-auth-file with the same
   traffic identities as the local backend (so the traffic is the same requests by the same
   users, and the audit policy sees the same users), mounted with the policy, and the local
   backend's admission plugins (KIND_APISERVER_ARGS);
3. the audit log file created on the host mount before the cluster, 0644 and ours: the
   apiserver (root in the node) appends to it, and its log rotation keeps the mode and owner
   of the file it rotates, so every file stays readable here without sudo;
4. `kind create cluster`, the audit flags proved in the node's kube-apiserver manifest, the
   traffic identities' RBAC applied;
5. after the traffic: a marker request waited for in the log and the capture (no SIGTERM
   flush: the apiserver is never stopped gracefully), then `kind delete cluster`: on success,
   failure, timeout and Ctrl-C alike.

Measured: client latency, /metrics (server latency, audit counters, apiserver CPU from
process_cpu_seconds_total), the audit log from the host mount, the webhook capture, the node
image. Not measured: /proc CPU and memory (the apiserver runs in the node container), etcd.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.backends import marker
from bench.backends.base import Capabilities, livez_down
from bench.controlplane import rbac
from bench.controlplane.http import Client
from bench.controlplane.identities import IDENTITIES, Identity, with_tokens, write_identities_json, write_token_file
from bench.errors import EnvironmentProblem
from bench.traffic import fixtures
from bench.traffic.launcher import ClusterInfo, TrafficScope
from bench.traffic.layout import Layout, new_prefix

DRAIN_S = 45.0  # bound on waiting for a marker (a batch-max-wait of 30s, the default, fits)
# kubeadm enables NodeRestriction, which refuses the traffic's node identity (system:node:worker-1)
# every write to a Node other than its own (the seed and created ab-<run>-node-* objects). The
# local backend runs kube-apiserver's default admission plugins, which do not include it; an
# empty --enable-admission-plugins gives kind's apiserver the same set, so the same requests
# succeed on both. (Authorization stays kubeadm's Node,RBAC.)
KIND_APISERVER_ARGS = {"enable-admission-plugins": ""}


@dataclass(frozen=True)
class KindRun:
    """Run-level settings of a kind scenario."""

    image: str


def prepare_kind(image: str, console: Any) -> KindRun:
    """kind, docker and an answering engine, before the run directory exists (exit 3 otherwise)."""
    from bench.kind.commands import preflight
    from bench.kind.config import KIND_VERSION

    preflight(kind_version=KIND_VERSION)
    console.print(f"kind backend: a fresh cluster per variant, node image {image}", highlight=False)
    return KindRun(image)


def cluster_name() -> str:
    return "ab-" + secrets.token_hex(3)  # kind's rule: lowercase letters, digits, '.' and '-'


class KindBackend:
    name = "kind"
    pins_control_plane = False  # the node container's CPUs are docker's, not pinned here

    def __init__(self, variant: Any, run: KindRun | None, *, runner: Any = None) -> None:
        from bench.kind.config import DEFAULT_IMAGE

        self.variant = variant
        self.image = run.image if run is not None else DEFAULT_IMAGE
        self.name_ = cluster_name()
        self.layout = Layout(new_prefix())
        self._runner = runner  # bench.kind.commands.Runner; None: the real one
        self.receiver: Any = None
        self.scratch: Path | None = None
        self.cluster: Any = None  # bench.kind.cluster.KindCluster once its files exist
        self.files: Any = None
        self.identities: tuple[Identity, ...] = ()
        self._server = ""
        self._ca: Path | None = None
        self._ready_s = 0.0
        self._server_version: str | None = None
        self.drain: dict[str, Any] = {}
        self.deleted = False

    def at(self, scratch: Path, control_plane_cpus: set[int] | None, nice: int | None = None) -> KindBackend:
        self.scratch = scratch
        return self

    @property
    def _dir(self) -> Path:
        assert self.scratch is not None, "at() first"
        return self.scratch / "kind"

    def capabilities(self) -> Capabilities:
        log = self.variant.policy_path is not None and self.variant.log is not None
        return Capabilities(process=False, metrics=True, audit_log=log, webhook=self.receiver is not None,
                            component_logs=False, sigterm_flush=False, audit_settings="variant")

    def start_receiver(self, variant: Any, scratch: Path, seed: int, cpus: set[int] | None) -> Any:
        from bench.webhook.receiver import Faults, Receiver

        wh = variant.webhook
        if wh is None or variant.policy_path is None:
            return None
        from bench.kind.network import receiver_address

        host = receiver_address(self._runner) if self._runner is not None else receiver_address()
        faults = Faults(seed=seed)  # faults are timed from the window (bench.measure.webhook)
        self.receiver = Receiver.start_in(scratch / "webhook", faults, cpus=cpus, host=host)
        return self.receiver

    # --- lifecycle -----------------------------------------------------------------------------
    def write_files(self) -> Any:
        """The kind config, its mounts (policy, webhook kubeconfig + CA, tokens) and the log file."""
        from bench.kind.config import WebhookTarget, write_kind_files
        from bench.measure.settings import audit_settings

        secret_dir = self._dir / "identities"
        secret_dir.mkdir(parents=True, exist_ok=True)
        secret_dir.chmod(0o700)
        self.identities = with_tokens(IDENTITIES)
        tokens = write_token_file(secret_dir / "tokens.csv", self.identities)
        write_identities_json(self.identities_file, self.identities)
        target = WebhookTarget(self.receiver.url, self.receiver.ca_file) if self.receiver is not None else None
        self.files = write_kind_files(audit_settings(self.variant), self._dir, name=self.name_, image=self.image,
                                      webhook=target, token_file=tokens, extra_args=KIND_APISERVER_ARGS)
        log = self.files.audit_log
        log.touch(mode=0o644, exist_ok=True)
        log.chmod(0o644)  # whatever the umask: readable after the node's root appends to it
        return self.files

    def __enter__(self) -> KindBackend:
        from bench.backends import kubeconfig
        from bench.kind.cluster import KindCluster

        started = time.monotonic()
        try:
            self.write_files()
            kwargs = {"runner": self._runner} if self._runner is not None else {}
            self.cluster = KindCluster(self.files, self.name_, kubeconfig=self._dir / "kubeconfig", **kwargs)
            self.cluster.create()  # deletes what it made if it fails or is interrupted
            target = kubeconfig.load(self._dir / "kubeconfig", f"kind-{self.name_}", self._dir / "connection")
            self._server, self._ca = target.server, target.ca_file
            self._apply_rbac()
            from bench.backends.preflight import version, wait_ready

            admin = self.client(purpose="readiness")
            try:
                wait_ready(admin, timeout_s=60.0)
                self._server_version = version(admin)
            finally:
                admin.close()
        except BaseException:
            self.stop()
            raise
        self._ready_s = time.monotonic() - started
        return self

    def _apply_rbac(self) -> None:
        client = self.client(purpose="rbac")
        try:
            for obj in rbac.manifests():
                resp = client.post(rbac.path_for(obj), obj)
                if resp.status not in (201, 409):
                    raise EnvironmentProblem(f"creating {obj['kind']} {obj['metadata']['name']} in kind cluster "
                                             f"{self.name_} failed: HTTP {resp.status}")
        finally:
            client.close()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Wait for the sinks, then delete the cluster. Idempotent, and retried by the next call
        when an interrupt cut it short (the delete only counts once kind has finished it)."""
        try:
            if self.cluster is not None and self.cluster.created and not self.drain and self._server:
                self._wait_for_sinks()
        finally:
            if self.cluster is not None and self.cluster.created:
                self.cluster.delete()
                self.deleted = True

    def _wait_for_sinks(self) -> None:
        started = time.monotonic()
        self.drain["waited"] = True
        wait = DRAIN_S
        wh = self.variant.webhook
        if wh is not None and wh.batch_max_wait_s is not None:
            wait = min(DRAIN_S, wh.batch_max_wait_s + 10.0)
        client = self.client(purpose="marker")
        try:
            for sink, path in (("webhook_s", self.receiver.capture_path if self.receiver is not None else None),
                               ("log_s", self.audit_log_path)):
                if path is None:
                    continue
                tail = marker.Tail(path)
                name = marker.send(client, self.layout.prefix, sink.split("_")[0])
                self.drain[sink] = marker.wait_for(tail, name, wait)
        except Exception as exc:  # the cluster still gets deleted; the figures say what they cover  # noqa: BLE001
            self.drain["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            client.close()
        self.drain["waited_s"] = round(time.monotonic() - started, 3)

    # --- while up ------------------------------------------------------------------------------
    @property
    def server(self) -> str:
        return self._server

    @property
    def ca_file(self) -> Path:
        assert self._ca is not None, "cluster not up"
        return self._ca

    @property
    def identities_file(self) -> Path:
        return self._dir / "identities" / "identities.json"

    @property
    def audit_log_path(self) -> Path | None:
        if self.files is None or self.variant.policy_path is None or self.variant.log is None:
            return None
        return self.files.audit_log

    @property
    def logs_dir(self) -> Path | None:
        return None  # the components' logs stay in the node

    @property
    def ready_s(self) -> float:
        return self._ready_s

    def client(self, identity: str = "admin", timeout: float = 10.0, purpose: str = "") -> Client:
        token = next(i.token for i in self.identities if i.name == identity)
        return Client(self._server, str(self.ca_file), token, timeout, purpose=purpose)

    def cluster_info(self) -> ClusterInfo:
        return ClusterInfo(self._server, self.ca_file, self.identities_file)

    def traffic_options(self) -> dict[str, Any]:
        # kube-scheduler, kubelet and DaemonSets run here: objects nothing schedules
        return {"scope": TrafficScope(prefix=self.layout.prefix, setup=fixtures.Scope(inert=True))}

    def pids(self) -> dict[str, int]:
        raise EnvironmentProblem("the kind node's apiserver is not measured through /proc")

    def died(self) -> list[str]:
        return livez_down(self.client(purpose="liveness"))

    def apiserver_flags(self) -> list[str]:
        pod = self.cluster.pod if self.cluster is not None else None
        return [f"--{k}={v}" for k, v in sorted(pod.args.items())] if pod is not None else []

    # --- after stop ----------------------------------------------------------------------------
    def exit_records(self) -> dict[str, dict[str, Any]]:
        return {}

    @property
    def sigterm_at(self) -> float | None:
        return None

    def versions(self) -> dict[str, Any]:
        tag = self.image.split("@")[0].rpartition(":")[2]
        return {"kubernetes_version": tag or None, "etcd_version": None}

    def run_metadata(self) -> dict[str, Any]:
        from bench.kind.config import KIND_VERSION

        info = {"cluster": self.name_, "kind_version": KIND_VERSION, "deleted": self.deleted,
                "receiver": self.receiver.url if self.receiver is not None else None,
                "audit_log": str(self.audit_log_path) if self.audit_log_path else None,
                "sinks_caught_up": self.drain, "prefix": self.layout.prefix}
        return {"server_version": self._server_version, "node_image": self.image, "backend_info": info}
