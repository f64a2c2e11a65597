"""The external backend: a cluster someone else runs, reached through a kubeconfig.

auditbench never changes its audit settings (the policy axis is "as configured") and never
stops its apiserver. Once per run, a preflight (bench.backends.preflight) asks the cluster
what this user may do and prints what will and will not be measured. Per variant:

- traffic runs as the kubeconfig's user (every profile identity maps to those credentials;
  impersonation would change nothing the audit policy sees, because the audit filter runs
  before impersonation and matches rules against the authenticated user), with the classes
  it may not send left out, in its own ab-<run>-* namespaces with inert objects (pods no
  scheduler takes, cordoned and tainted nodes);
- /metrics is scraped at the window edges if readable; apiserver CPU is its own
  process_cpu_seconds_total (no /proc: it is not a process on this machine);
- audit volume comes from a readable log path (--audit-log) and/or from a receiver the
  cluster's webhook was pointed at (`auditbench external receiver` prints the flags);
- at the end, a marker request shows the sinks have caught up (no SIGTERM flush), and the
  run's objects are deleted, also after Ctrl-C (the stop runs in the orchestrator's finally).
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.backends import kubeconfig, marker, preflight
from bench.backends.base import AS_CONFIGURED, Capabilities, livez_down
from bench.controlplane.http import Client
from bench.controlplane.identities import IDENTITIES, Identity, write_identities_json
from bench.controlplane.kubeconfig import webhook_kubeconfig
from bench.errors import EnvironmentProblem, InputError
from bench.traffic import fixtures
from bench.traffic.launcher import ClusterInfo, TrafficScope
from bench.traffic.layout import Layout, new_prefix

RECEIVER_SPEC = "receiver.json"
DRAIN_S = 40.0  # the default batch-max-wait is 30s: a marker sent after the traffic arrives within it


@dataclass(frozen=True)
class ExternalOptions:
    """From the command line (`measure`/`run --backend external ...`)."""

    kubeconfig: Path
    context: str | None = None
    audit_log: Path | None = None
    webhook_receiver: Path | None = None  # a directory made by `auditbench external receiver`
    allow_remote: bool = False
    cluster_scoped_writes: bool = False
    wait_s: float = DRAIN_S  # how long a marker may take to reach a sink


# --- the receiver an external cluster's webhook points at ------------------------------------
@dataclass(frozen=True)
class ReceiverSpec:
    directory: Path
    host: str
    port: int

    @property
    def pki_dir(self) -> Path:
        return self.directory / "webhook-pki"

    @property
    def kubeconfig(self) -> Path:
        return self.directory / "webhook.kubeconfig"

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}/audit"

    def apiserver_flags(self, max_wait: str = "5s") -> list[str]:
        return [f"--audit-webhook-config-file={self.kubeconfig}", "--audit-webhook-mode=batch",
                f"--audit-webhook-batch-max-wait={max_wait}"]


def write_receiver_dir(directory: Path, host: str, port: int) -> ReceiverSpec:
    """A fixed address and CA for the receiver, and the webhook kubeconfig (CA embedded, so the
    one file is all a control-plane node needs)."""
    import base64

    from bench.webhook.receiver import _check_bind, write_pki

    if not 1 <= port <= 65535:
        raise InputError("command line", "--port", "must be between 1 and 65535")
    _check_bind(host)
    directory.mkdir(parents=True, exist_ok=True)
    spec = ReceiverSpec(directory.resolve(), host, port)
    _, _, ca = write_pki(spec.pki_dir, host)
    text = webhook_kubeconfig(spec.url, ca).replace(
        f"certificate-authority: {ca}", f"certificate-authority-data: {base64.b64encode(ca.read_bytes()).decode()}")
    spec.kubeconfig.write_text(text)
    (directory / RECEIVER_SPEC).write_text(json.dumps({"host": host, "port": port}) + "\n")
    return spec


def load_receiver_dir(directory: Path) -> ReceiverSpec:
    path = directory / RECEIVER_SPEC
    try:
        doc = json.loads(path.read_text())
        return ReceiverSpec(directory.resolve(), str(doc["host"]), int(doc["port"]))
    except OSError:
        raise InputError(directory, "--webhook-receiver", "not a receiver directory: run "
                         "`auditbench external receiver --dir` first") from None
    except (ValueError, KeyError, TypeError):
        raise InputError(path, None, "not a receiver spec (host and port)") from None


# --- once per run ------------------------------------------------------------------------------
@dataclass
class Prepared:
    """What every variant of an external run shares: the target, its credentials, the preflight."""

    options: ExternalOptions
    target: kubeconfig.Target
    workdir: Path  # private (0700): CA, credentials, identities; removed at exit
    identities_file: Path
    receiver: ReceiverSpec | None
    check: preflight.Preflight

    def client(self, timeout: float = 10.0, purpose: str = "") -> Client:
        t = self.target
        return Client(t.server, str(t.ca_file), t.credentials.token, timeout, purpose=purpose, cert=t.cert,
                      allow_remote=t.allow_remote)


def identities(token: str | None) -> tuple[Identity, ...]:
    """Every profile identity with the kubeconfig user's credentials (a token, or none when the
    client certificate authenticates). Names, users and groups stay as the profile's: request
    bodies (access reviews) use them as data."""
    admin = Identity("admin", "auditbench-admin", (), "harness set-up and clean-up")
    return tuple(Identity(i.name, i.user, i.groups, i.role, token or "") for i in (admin, *IDENTITIES[1:]))


def prepare_external(options: ExternalOptions | None, console: Any) -> Prepared:
    if options is None:
        raise InputError("command line", "--kubeconfig", "the external backend needs --kubeconfig FILE")
    workdir = Path(tempfile.mkdtemp(prefix="auditbench-external-"))
    atexit.register(shutil.rmtree, workdir, True)
    target = kubeconfig.load(options.kubeconfig, options.context, workdir, allow_remote=options.allow_remote)
    spec = load_receiver_dir(options.webhook_receiver) if options.webhook_receiver else None
    ids = write_identities_json(workdir / "identities.json", identities(target.credentials.token))
    prepared = Prepared(options, target, workdir, ids, spec, None)  # type: ignore[arg-type]
    client = prepared.client(purpose="preflight")
    try:
        preflight.wait_ready(client, timeout_s=15.0)
        prepared.check = preflight.run(client, prefix=new_prefix(), audit_log=options.audit_log, receiver=spec,
                                       cluster_writes=options.cluster_scoped_writes, wait_s=options.wait_s,
                                       scratch=workdir / "preflight-webhook")
    finally:
        client.close()
    print_table(prepared, console)
    return prepared


def print_table(prepared: Prepared, console: Any) -> None:
    from rich.table import Table

    t = prepared.target
    table = Table("", "measured", "", title=f"external cluster: context {t.context} ({t.credentials.source})",
                  title_justify="left", show_lines=False)
    for row in prepared.check.rows:
        mark = {True: "[green]yes[/green]", False: "[yellow]no[/yellow]", None: ""}[row.measured]
        table.add_row(row.what, mark, row.detail)
    console.print(table)
    spec = prepared.receiver
    if spec is not None and not prepared.check.webhook_ok:
        console.print(f"to measure webhook delivery, copy {spec.kubeconfig} to every control-plane node and add "
                      "to each kube-apiserver (the path as the node sees the copy):", highlight=False)
        for flag in spec.apiserver_flags():
            console.print(f"  {flag}", highlight=False, soft_wrap=True)
    elif spec is None:
        console.print("to measure webhook delivery: `auditbench external receiver --dir DIR --address ADDR` "
                      "prints the kube-apiserver flags to add; then pass --webhook-receiver DIR", highlight=False)


# --- one variant -----------------------------------------------------------------------------
class ExternalBackend:
    name = "external"
    pins_control_plane = False  # the control plane is not on this machine

    def __init__(self, variant: Any, prepared: Prepared | None) -> None:
        if prepared is None:
            raise InputError("command line", "--kubeconfig", "the external backend needs --kubeconfig FILE")
        self.variant, self.p = variant, prepared
        self.layout = Layout(new_prefix())  # named here, so the stop can find the run's objects after Ctrl-C
        self.receiver: Any = None
        self.scratch: Path | None = None
        self._ready_s = 0.0
        self._up = False
        self.cleanup: dict[str, Any] = {}
        self.drain: dict[str, Any] = {}

    def at(self, scratch: Path, control_plane_cpus: set[int] | None, nice: int | None = None) -> ExternalBackend:
        self.scratch = scratch
        return self

    def capabilities(self) -> Capabilities:
        c = self.p.check
        return Capabilities(process=False, metrics=c.metrics, audit_log=c.audit_log_ok,
                            webhook=self.receiver is not None, component_logs=False, sigterm_flush=False,
                            audit_settings=AS_CONFIGURED)

    def start_receiver(self, variant: Any, scratch: Path, seed: int, cpus: set[int] | None) -> Any:
        spec = self.p.receiver
        if spec is None or not self.p.check.webhook_ok:
            return None
        from bench.webhook.receiver import Receiver

        self.receiver = Receiver.start_in(scratch / "webhook", cpus=cpus, host=spec.host, port=spec.port,
                                          pki_dir=spec.pki_dir)
        # The apiserver may be backing off after batches it could not deliver while no receiver
        # listened: wait until a marker arrives, so the window's batches are not late for that.
        self.drain["receiver_caught_up_s"] = self._marker(marker.Tail(self.receiver.capture_path), "start")
        return self.receiver

    def _marker(self, tail: marker.Tail, label: str) -> float | None:
        client = self.p.client(purpose="marker")
        try:
            name = marker.send(client, self.layout.prefix, label)
        finally:
            client.close()
        return marker.wait_for(tail, name, self.p.options.wait_s)

    # --- lifecycle: nothing to start; the stop waits for the sinks and deletes the run's objects
    def __enter__(self) -> ExternalBackend:
        client = self.p.client(purpose="readiness")
        try:
            self._ready_s = preflight.wait_ready(client, timeout_s=30.0)
        finally:
            client.close()
        self._up = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Idempotent; runs on success, failure and Ctrl-C (a second Ctrl-C cuts it short, and
        `auditbench external cleanup` finds what is left by its prefix)."""
        if not self._up:
            return
        self._up = False
        self._wait_for_sinks()
        client = self.p.client(timeout=30.0, purpose="cleanup")
        try:
            td = fixtures.teardown(client, self.layout)  # again: Ctrl-C may have cut the traffic's own short
            left = fixtures.wait_namespaces_gone(client, self.layout, timeout_s=120.0)
        except Exception as exc:  # recorded; the run goes on  # noqa: BLE001
            self.cleanup = {"prefix": self.layout.prefix, "error": f"{type(exc).__name__}: {exc}"}
            return
        finally:
            client.close()
        self.cleanup = {"prefix": self.layout.prefix, "deleted": {k: len(v) for k, v in td.deleted.items()},
                        "errors": td.errors, "namespaces_left": left}

    def _wait_for_sinks(self) -> None:
        """No SIGTERM flush here: a marker sent now has reached each sink once all earlier events have."""
        started = time.monotonic()
        if self.receiver is not None:
            self.drain["webhook_s"] = self._marker(marker.Tail(self.receiver.capture_path), "end")
        if self.p.check.audit_log_ok and self.p.check.audit_log is not None:
            self.drain["log_s"] = self._marker(marker.Tail(self.p.check.audit_log), "end-log")
        self.drain["waited_s"] = round(time.monotonic() - started, 3)

    # --- while up --------------------------------------------------------------------------
    @property
    def server(self) -> str:
        return self.p.target.server

    @property
    def ca_file(self) -> Path:
        return self.p.target.ca_file

    @property
    def identities_file(self) -> Path:
        return self.p.identities_file

    @property
    def audit_log_path(self) -> Path | None:
        return self.p.check.audit_log if self.p.check.audit_log_ok else None

    @property
    def logs_dir(self) -> Path | None:
        return None

    @property
    def ready_s(self) -> float:
        return self._ready_s

    def client(self, identity: str = "admin", timeout: float = 10.0, purpose: str = "") -> Client:
        return self.p.client(timeout, purpose)  # every identity is the kubeconfig's user

    def cluster_info(self) -> ClusterInfo:
        t = self.p.target
        cert = t.cert
        return ClusterInfo(t.server, t.ca_file, self.p.identities_file, Path(cert[0]) if cert else None,
                           Path(cert[1]) if cert else None, allow_remote=t.allow_remote)

    def traffic_options(self) -> dict[str, Any]:
        plan = self.p.check.plan
        scope = fixtures.Scope(seeds=frozenset(plan.seeds), inert=True, wait_sa=self.p.check.sa_wait)
        return {"scope": TrafficScope(prefix=self.layout.prefix, exclude_classes=frozenset(plan.left_out), setup=scope)}

    def pids(self) -> dict[str, int]:
        raise EnvironmentProblem("the external apiserver is not a process on this machine")

    def died(self) -> list[str]:
        return livez_down(self.p.client(purpose="liveness"))

    def apiserver_flags(self) -> list[str]:
        return []  # as configured: not ours to know

    # --- after stop --------------------------------------------------------------------------
    def exit_records(self) -> dict[str, dict[str, Any]]:
        return {}

    @property
    def sigterm_at(self) -> float | None:
        return None

    def versions(self) -> dict[str, Any]:
        return {"kubernetes_version": self.p.check.server_version, "etcd_version": None}

    def run_metadata(self) -> dict[str, Any]:
        info = {"audit_settings": "as configured (auditbench does not change them)", "target": self.p.target.describe(),
                "preflight": self.p.check.as_dict(), "prefix": self.layout.prefix, "cleanup": self.cleanup,
                "sinks_caught_up": self.drain}
        return {"server_version": self.p.check.server_version, "backend_info": info}
