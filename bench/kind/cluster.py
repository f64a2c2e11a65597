"""Create and delete a kind cluster from the files config.py wrote, and prove auditing is on.

    cluster = KindCluster(files, name="auditbench")
    cluster.create()   # preflight, kindcheck, `kind create cluster`, manifest check
    ...
    cluster.delete()   # `kind delete cluster`; idempotent

A create that fails or is cut short (its timeout, Ctrl-C, SIGTERM) deletes its cluster unless
retain=True. create() fails loudly (AuditNotApplied, exit 3) when the node's kube-apiserver manifest lacks any
expected audit flag or mount, and deletes that cluster unless retain=True, because a cluster that
does not audit would yield numbers that look fine and mean nothing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from bench.errors import EnvironmentProblem
from bench.kind import manifest
from bench.kind.commands import Runner, Which, checked, preflight, run
from bench.kind.config import DEFAULT_NAME, KIND_VERSION, NODE_AUDIT_DIR, NODE_LOG_DIR, KindFiles
from bench.kind.validate import validate

_CREATE_TIMEOUT = 900.0  # image pull on a cold runner plus kubeadm init
_DELETE_TIMEOUT = 180.0


class KindCluster:
    def __init__(self, files: KindFiles, name: str = DEFAULT_NAME, *, kubeconfig: Path | None = None,
                 wait: str = "120s", retain: bool = False, runner: Runner = run, which: Which = shutil.which,
                 create_timeout: float = _CREATE_TIMEOUT) -> None:
        self.files = files
        self.name = name
        self.kubeconfig = kubeconfig or files.config.parent / "kubeconfig"
        self.wait = wait
        self.retain = retain
        self.create_timeout = create_timeout
        self._run = runner
        self._which = which
        self.created = False
        self.pod: manifest.ApiserverPod | None = None  # the verified kube-apiserver static pod

    @property
    def node(self) -> str:
        return f"{self.name}-control-plane"

    @property
    def audit_log(self) -> Path:
        """The node's audit log, seen through the host mount (written by root in the node)."""
        return self.files.audit_log

    def create_argv(self) -> list[str]:
        return ["kind", "create", "cluster", "--config", str(self.files.config), "--name", self.name,
                "--kubeconfig", str(self.kubeconfig), "--wait", self.wait]

    def delete_argv(self) -> list[str]:
        return ["kind", "delete", "cluster", "--name", self.name, "--kubeconfig", str(self.kubeconfig)]

    def manifest_argv(self) -> list[str]:
        return ["docker", "exec", self.node, "cat", manifest.MANIFEST_PATH]

    def create(self) -> None:
        # kind's own checks first: a config kind rejects should not wait for docker to say so.
        validate(self.files.config, self.files.expected_args)
        preflight(self._run, self._which, kind_version=KIND_VERSION)
        try:
            checked(self._run, self.create_argv(), self.create_timeout, "kind create cluster")
        except BaseException as exc:
            # kind removes what a failed create made, but not when it is killed (a timeout,
            # Ctrl-C, SIGTERM): then the node container would be left running.
            if not self.retain:
                self._delete_after(exc)
            raise
        self.created = True
        try:
            self.pod = self.verify()
        except manifest.AuditNotApplied:
            if not self.retain:
                self.delete()
            raise

    def verify(self) -> manifest.ApiserverPod:
        text = checked(self._run, self.manifest_argv(), 60.0, f"reading the apiserver manifest of {self.node}")
        return manifest.check(text, self.files.expected_args, [str(NODE_AUDIT_DIR), str(NODE_LOG_DIR)], node=self.node)

    def _delete_after(self, exc: BaseException) -> None:
        try:
            self.delete()
        except EnvironmentProblem as failed:
            if isinstance(exc, Exception):  # an interrupt stays an interrupt
                raise EnvironmentProblem(f"{exc}; deleting the half-made cluster failed too: {failed.reason}",
                                         "run `" + " ".join(self.delete_argv()) + "`") from exc

    def delete(self) -> None:
        """Delete the cluster (kind treats a missing one as success)."""
        checked(self._run, self.delete_argv(), _DELETE_TIMEOUT, "kind delete cluster")
        self.created = False
