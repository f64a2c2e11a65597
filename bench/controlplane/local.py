"""The `local` backend: etcd, kube-apiserver and kube-controller-manager as child processes on loopback."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import urllib3

from bench.controlplane import pki, rbac
from bench.controlplane.audit import AuditSettings, audit_flags
from bench.controlplane.build import Binaries, resolve
from bench.controlplane.http import Client
from bench.controlplane.identities import Identity, write_identities_json, write_token_file, with_tokens, IDENTITIES
from bench.controlplane.kubeconfig import write_admin_kubeconfig
from bench.controlplane.ports import free_ports
from bench.controlplane.procs import Child, ExitInfo, reap_orphans
from bench.errors import EnvironmentProblem

_KCM_USER = "system:kube-controller-manager"  # bound by the apiserver's bootstrap RBAC


class StartupError(EnvironmentProblem):
    pass


@dataclass
class StartTimings:
    etcd_s: float = 0.0
    apiserver_s: float = 0.0
    rbac_s: float = 0.0
    controller_manager_s: float = 0.0
    total_s: float = 0.0


@dataclass
class LocalCluster:
    """A real control plane in ``run_dir``. Use as a context manager; stop() is idempotent and
    retried until everything has stopped.

    Without a ``run_dir`` the cluster makes a private temporary one and removes it on stop,
    unless the start failed (its logs are then kept for the error message that names them).
    ``control_plane_cpus`` pins etcd, kube-apiserver and kube-controller-manager before exec,
    so every thread they ever start runs on that set; GOMAXPROCS matches its size.

    ``audit_log_dir`` puts the audit log somewhere else than ``run_dir/audit`` (another disk,
    a small tmpfs to see a full disk); the caller removes it. ``scratch_paths`` are the
    caller's own scratch directories: `auditbench cleanup` and the next cluster start remove
    them if the harness dies without doing so (names must start with "auditbench-")."""

    audit: AuditSettings = field(default_factory=AuditSettings)
    binaries: Binaries | None = None
    run_dir: Path | None = None
    webhook_kubeconfig: Path | None = None
    etcd_on_tmpfs: bool = True
    control_plane_cpus: set[int] | None = None
    nice: int | None = None  # priority of etcd, kube-apiserver and kube-controller-manager
    extra_apiserver_args: tuple[str, ...] = ()
    ready_timeout: float = 60.0
    shutdown_grace: float = 15.0
    with_controller_manager: bool = True
    audit_log_dir: Path | None = None
    scratch_paths: tuple[Path, ...] = ()

    def __post_init__(self) -> None:
        self.children: list[Child] = []
        self.identities: tuple[Identity, ...] = ()
        self.timings = StartTimings()
        self.apiserver_argv: list[str] = []
        self._etcd_dir: Path | None = None
        self._owns_run_dir = self.run_dir is None
        self._keep_run_dir = False
        self.sigterm_at: dict[str, float] = {}  # component -> unix time stop() sent it SIGTERM

    # --- paths -------------------------------------------------------------------------
    @property
    def pki_dir(self) -> Path:
        return self._dir / "pki"

    @property
    def ca_file(self) -> Path:
        return self.pki_dir / "ca.crt"

    @property
    def kubeconfig(self) -> Path:
        return self._dir / "admin.kubeconfig"

    @property
    def identities_file(self) -> Path:
        return self._dir / "identities.json"

    @property
    def audit_log_path(self) -> Path | None:
        if self.audit.policy is None or not self.audit.log.enabled:
            return None
        return (self.audit_log_dir or self._dir / "audit") / "audit.log"

    @property
    def logs_dir(self) -> Path:
        return self._dir / "logs"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports['apiserver']}"

    @property
    def _dir(self) -> Path:
        assert self.run_dir is not None, "cluster not started"
        return self.run_dir

    def identity(self, name: str) -> Identity:
        for ident in self.identities:
            if ident.name == name:
                return ident
        raise KeyError(name)

    def client(self, identity: str = "admin", timeout: float = 10.0, purpose: str = "") -> Client:
        return Client(self.server, str(self.ca_file), self.identity(identity).token, timeout, purpose=purpose)

    @property
    def apiserver(self) -> Child:
        return self._child("kube-apiserver")

    @property
    def etcd(self) -> Child:
        return self._child("etcd")

    @property
    def exits(self) -> dict[str, ExitInfo]:
        """How each stopped child ended (clean after SIGTERM, or killed after the grace period)."""
        return {c.name: c.exit for c in self.children if c.exit is not None}

    def _child(self, name: str) -> Child:
        for c in self.children:
            if c.name == name:
                return c
        raise KeyError(name)

    # --- lifecycle ---------------------------------------------------------------------
    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> LocalCluster:
        reap_orphans()
        t0 = time.monotonic()
        self.binaries = self.binaries or resolve(allow_build=False)
        if self.run_dir is None:
            self.run_dir = Path(tempfile.mkdtemp(prefix="auditbench-"))
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir.chmod(0o700)  # keys, tokens and kubeconfigs live here
        atexit.register(self.stop)
        try:
            self._prepare()
            self._start_etcd()
            self.timings.etcd_s = time.monotonic() - t0
            self._start_apiserver()
            self.timings.apiserver_s = time.monotonic() - t0
            self._apply_rbac()
            self.timings.rbac_s = time.monotonic() - t0
            if self.with_controller_manager:
                self._start_controller_manager()
            self.timings.controller_manager_s = time.monotonic() - t0
        except BaseException as exc:
            self._keep_run_dir = isinstance(exc, Exception)  # a failed start keeps its logs
            self.stop()
            raise
        self.timings.total_s = time.monotonic() - t0
        return self

    def stop(self) -> None:
        """Stop in reverse order: the controller manager, then the apiserver (which flushes
        its audit backends on SIGTERM), then etcd; then remove the cluster's scratch.

        A child counts as stopped only once its own stop completed (Child.stop is idempotent),
        so a stop interrupted by Ctrl-C or SIGTERM is finished by the next call: the caller's
        `finally`, or the atexit hook, which stays registered until everything is done."""
        for child in reversed(self.children):
            if child.exit is None and child.running():
                # The apiserver's audit backends flush after this: later webhook arrivals are the flush.
                self.sigterm_at.setdefault(child.name, time.time())
            child.stop(self.shutdown_grace)
        if self._etcd_dir is not None:
            shutil.rmtree(self._etcd_dir, ignore_errors=True)
            self._etcd_dir = None
        if self._owns_run_dir and not self._keep_run_dir and self.run_dir is not None:
            shutil.rmtree(self.run_dir, ignore_errors=True)
        atexit.unregister(self.stop)

    # --- steps -------------------------------------------------------------------------
    def _prepare(self) -> None:
        names = ["etcd_client", "etcd_peer", "etcd_metrics", "apiserver", "controller_manager"]
        self.ports = dict(zip(names, free_ports(len(names))))
        ca = pki.make_ca()
        pki.write_pair(self.pki_dir, "ca", ca)
        serving = pki.issue(ca, "kube-apiserver", dns=("localhost", "kubernetes", "kubernetes.default"),
                            ips=("127.0.0.1", "::1"), server=True)
        pki.write_pair(self.pki_dir, "apiserver", serving)
        sa_key = pki.new_key()
        pki.write_private(self.pki_dir / "sa.key", pki.key_pem(sa_key))
        (self.pki_dir / "sa.pub").write_bytes(pki.public_pem(sa_key))
        self.identities = with_tokens(IDENTITIES + (Identity("controller-manager", _KCM_USER, (), "kube-controller-manager"),))
        write_token_file(self.pki_dir / "tokens.csv", self.identities)
        write_identities_json(self.identities_file, self.identities)
        write_admin_kubeconfig(self.kubeconfig, self.server, self.ca_file, self.identity("admin").token)
        write_admin_kubeconfig(self._dir / "controller-manager.kubeconfig", self.server, self.ca_file,
                               self.identity("controller-manager").token, _KCM_USER)
        if self.audit_log_path is not None:
            self.audit_log_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # events may carry bodies

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.control_plane_cpus:
            env["GOMAXPROCS"] = str(len(self.control_plane_cpus))
        return env

    def _spawn(self, name: str, argv: list[str], owned: tuple[Path, ...] = ()) -> Child:
        child = Child(name, argv, self.logs_dir / f"{name}.log", env=self._env(), nice=self.nice,
                      cpus=self.control_plane_cpus, owned_paths=owned)
        self.children.append(child)  # before start: stop() must see it even if start is interrupted
        return child.start()

    def _start_etcd(self) -> None:
        assert self.binaries is not None
        shm = Path("/dev/shm")
        base = shm if self.etcd_on_tmpfs and shm.is_dir() and os.access(shm, os.W_OK) else self._dir
        self._etcd_dir = Path(tempfile.mkdtemp(prefix="auditbench-etcd-", dir=base))
        # A harness killed with SIGKILL cannot remove these; reap_orphans does, via etcd's record.
        owned = (self._etcd_dir,) + ((self._dir,) if self._owns_run_dir else ()) + self.scratch_paths
        p = self.ports
        child = self._spawn("etcd", [
            str(self.binaries.etcd),
            "--name=auditbench",
            f"--data-dir={self._etcd_dir}",
            f"--listen-client-urls=http://127.0.0.1:{p['etcd_client']}",
            f"--advertise-client-urls=http://127.0.0.1:{p['etcd_client']}",
            f"--listen-peer-urls=http://127.0.0.1:{p['etcd_peer']}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{p['etcd_peer']}",
            f"--initial-cluster=auditbench=http://127.0.0.1:{p['etcd_peer']}",
            f"--listen-metrics-urls=http://127.0.0.1:{p['etcd_metrics']}",
            "--log-level=warn",
        ], owned)
        url = f"http://127.0.0.1:{p['etcd_client']}/health"
        pool = urllib3.PoolManager(timeout=urllib3.Timeout(total=1.0), retries=False)
        self._wait(child, lambda: pool.request("GET", url).status == 200, "etcd /health")

    def _start_apiserver(self) -> None:
        assert self.binaries is not None
        pki_dir, p = self.pki_dir, self.ports
        webhook_cfg = self.webhook_kubeconfig
        if self.audit.policy is not None and self.audit.webhook.enabled and webhook_cfg is None:
            raise ValueError("webhook backend enabled but no receiver kubeconfig given")
        self.apiserver_argv = [
            str(self.binaries.kube_apiserver),
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={p['apiserver']}",
            f"--etcd-servers=http://127.0.0.1:{p['etcd_client']}",
            f"--tls-cert-file={pki_dir / 'apiserver.crt'}",
            f"--tls-private-key-file={pki_dir / 'apiserver.key'}",
            f"--client-ca-file={pki_dir / 'ca.crt'}",
            f"--token-auth-file={pki_dir / 'tokens.csv'}",
            "--authorization-mode=RBAC",
            f"--service-account-issuer=https://127.0.0.1:{p['apiserver']}",
            f"--service-account-key-file={pki_dir / 'sa.pub'}",
            f"--service-account-signing-key-file={pki_dir / 'sa.key'}",
            "--service-cluster-ip-range=10.96.0.0/24",
            # The kubernetes Service's endpoints may not be loopback addresses; nothing here
            # routes through that Service, so the reconciler is off.
            "--endpoint-reconciler-type=none",
            *audit_flags(self.audit, self.audit_log_path, webhook_cfg),
            *self.extra_apiserver_args,
        ]
        child = self._spawn("kube-apiserver", self.apiserver_argv)
        client = self.client("admin", timeout=2.0)
        try:
            self._wait(child, lambda: client.get("/readyz").status == 200, "kube-apiserver /readyz")
        finally:
            client.close()

    def _apply_rbac(self) -> None:
        client = self.client()
        try:
            for obj in rbac.manifests():
                resp = client.post(rbac.path_for(obj), obj)
                if resp.status not in (201, 409):
                    raise StartupError(f"creating {obj['kind']} {obj['metadata']['name']} failed: HTTP {resp.status} {resp.body[:200]!r}")
        finally:
            client.close()

    def _start_controller_manager(self) -> None:
        assert self.binaries is not None
        kcfg = self._dir / "controller-manager.kubeconfig"
        child = self._spawn("kube-controller-manager", [
            str(self.binaries.kube_controller_manager),
            f"--kubeconfig={kcfg}",
            f"--authentication-kubeconfig={kcfg}",
            f"--authorization-kubeconfig={kcfg}",
            "--bind-address=127.0.0.1",
            f"--secure-port={self.ports['controller_manager']}",
            "--leader-elect=false",
            "--use-service-account-credentials=true",  # each controller as its own service account, as kubeadm runs it
            f"--service-account-private-key-file={self.pki_dir / 'sa.key'}",
            f"--root-ca-file={self.ca_file}",
            f"--cert-dir={self._dir / 'kcm-certs'}",
        ])
        pool = urllib3.PoolManager(cert_reqs="CERT_NONE", timeout=urllib3.Timeout(total=1.0), retries=False)
        url = f"https://127.0.0.1:{self.ports['controller_manager']}/healthz"
        # Its serving cert is self-signed at start; /healthz needs no credentials.
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
            self._wait(child, lambda: pool.request("GET", url).status == 200, "kube-controller-manager /healthz")

    def _wait(self, child: Child, probe, what: str) -> None:
        deadline = time.monotonic() + self.ready_timeout
        delay = 0.05
        while time.monotonic() < deadline:
            if not child.running():
                raise StartupError(f"{child.name} exited with code {child.proc.returncode if child.proc else '?'} before {what} was ready",
                                   f"see {child.log_path}: {_tail(child.log_path)}")
            try:
                if probe():
                    return
            except (urllib3.exceptions.HTTPError, OSError):
                pass
            time.sleep(delay)
            delay = min(delay * 1.5, 0.25)
        raise StartupError(f"{what} not ready after {self.ready_timeout:.0f}s", f"see {child.log_path}")


def _tail(path: Path, lines: int = 3) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])[-600:]
    except OSError:
        return ""
