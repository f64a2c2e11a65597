"""Read a user's kubeconfig the way kubectl does, into what the harness and Locust need.

A context names a cluster (server URL, CA) and a user (a bearer token, a token file, a
client certificate, or an exec credential plugin such as `aws eks get-token`). Relative
paths are relative to the kubeconfig's directory. Credentials the harness must hand to
other processes (a token from a plugin, certificate data) are written 0600 into a private
directory, never into results or logs.

Refused with the file and field named (exit 2): TLS verification turned off, proxies,
tls-server-name, auth-provider plugins (removed from client-go in 1.26), basic auth, no
credentials at all, and a server that is not on loopback unless the user opted in
(``allow_remote``: auditbench sends traffic off this machine only when asked to).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench.controlplane.http import is_loopback
from bench.controlplane.pki import write_private
from bench.errors import EnvironmentProblem, InputError

_EXEC_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Credentials:
    token: str | None  # bearer token (token, tokenFile or an exec plugin's)
    cert: Path | None  # client certificate and key files (0600)
    key: Path | None
    source: str  # how they were obtained, for the preflight table (never the secret itself)
    expires_at: str | None = None  # an exec plugin's expirationTimestamp


@dataclass(frozen=True)
class Target:
    """One kubeconfig context, resolved."""

    kubeconfig: Path
    context: str
    cluster: str
    user: str  # the kubeconfig's name for the user entry (not the username the cluster sees)
    server: str
    ca_file: Path
    credentials: Credentials
    allow_remote: bool = False

    @property
    def cert(self) -> tuple[str, str] | None:
        c = self.credentials
        return (str(c.cert), str(c.key)) if c.cert and c.key else None

    def describe(self) -> dict[str, Any]:
        """What the result records (no credential material)."""
        return {"kubeconfig": str(self.kubeconfig), "context": self.context, "cluster": self.cluster,
                "server": self.server, "credentials": self.credentials.source,
                "credentials_expire": self.credentials.expires_at}


def _named(doc: dict[str, Any], section: str, name: str, path: Path, field: str) -> dict[str, Any]:
    entries = doc.get(section)
    if not isinstance(entries, list):
        raise InputError(path, section, "missing or not a list")
    for entry in entries:
        if isinstance(entry, dict) and entry.get("name") == name:
            body = entry.get(section[:-1])  # contexts[].context, clusters[].cluster, users[].user
            if not isinstance(body, dict):
                raise InputError(path, f"{section}[{name}]", "has no body")
            return body
    raise InputError(path, field, f"names {name!r}, which is not in {section}")


def _file(base: Path, value: Any, path: Path, field: str) -> Path:
    if not isinstance(value, str) or not value:
        raise InputError(path, field, "must be a file path")
    p = Path(os.path.expanduser(value))
    p = p if p.is_absolute() else base / p
    if not p.is_file():
        raise InputError(path, field, f"no such file {p}")
    return p


def _data(value: Any, path: Path, field: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise InputError(path, field, "is not base64") from None


def load(path: Path, context: str | None, workdir: Path, *, allow_remote: bool = False) -> Target:
    """The context ``context`` (default: current-context) of ``path``; files go to ``workdir``."""
    path = Path(path).expanduser()
    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise InputError(path, None, f"cannot read: {exc.strerror or exc}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InputError(path, None, f"not YAML: {' '.join(str(exc).split())[:200]}") from None
    if not isinstance(doc, dict):
        raise InputError(path, None, "not a kubeconfig (expected a mapping)")
    name = context or doc.get("current-context")
    if not name:
        raise InputError(path, "current-context", "not set; pass --context")
    field = "--context" if context else "current-context"
    ctx = _named(doc, "contexts", name, path, field)
    cluster_name, user_name = ctx.get("cluster"), ctx.get("user")
    if not cluster_name:
        raise InputError(path, f"contexts[{name}].context.cluster", "missing")
    if not user_name:
        raise InputError(path, f"contexts[{name}].context.user", "missing")
    cluster = _named(doc, "clusters", cluster_name, path, f"contexts[{name}].context.cluster")
    user = _named(doc, "users", user_name, path, f"contexts[{name}].context.user")
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o700)
    server, ca = _cluster(cluster, f"clusters[{cluster_name}].cluster", path, workdir, allow_remote)
    creds = _credentials(user, f"users[{user_name}].user", path, workdir, cluster, server)
    return Target(path.resolve(), name, cluster_name, user_name, server, ca, creds, allow_remote)


def _cluster(c: dict[str, Any], where: str, path: Path, workdir: Path, allow_remote: bool) -> tuple[str, Path]:
    server = c.get("server")
    if not isinstance(server, str) or not server.startswith("https://"):
        raise InputError(path, f"{where}.server", f"must be an https:// URL, got {server!r}")
    if not allow_remote and not is_loopback(server):
        raise InputError(path, f"{where}.server", f"{server} is not a loopback address: auditbench sends "
                         "traffic off this machine only with --allow-remote")
    for unsupported, why in (("proxy-url", "proxies are not supported"),
                             ("tls-server-name", "tls-server-name is not supported")):
        if c.get(unsupported):
            raise InputError(path, f"{where}.{unsupported}", why)
    if c.get("insecure-skip-tls-verify"):
        raise InputError(path, f"{where}.insecure-skip-tls-verify",
                         "auditbench verifies the apiserver's certificate: give its CA instead")
    if c.get("certificate-authority-data"):
        pem = _data(c["certificate-authority-data"], path, f"{where}.certificate-authority-data")
    elif c.get("certificate-authority"):
        pem = _file(path.parent, c["certificate-authority"], path, f"{where}.certificate-authority").read_bytes()
    else:
        raise InputError(path, f"{where}.certificate-authority-data", "no CA: auditbench verifies the apiserver")
    if b"BEGIN CERTIFICATE" not in pem:
        raise InputError(path, f"{where}.certificate-authority", "is not a PEM certificate")
    ca = workdir / "ca.crt"
    ca.write_bytes(pem)
    return server.rstrip("/"), ca


def _credentials(u: dict[str, Any], where: str, path: Path, workdir: Path, cluster: dict[str, Any],
                 server: str) -> Credentials:
    if u.get("auth-provider"):
        raise InputError(path, f"{where}.auth-provider", "auth-provider plugins were removed from client-go "
                         "(1.26); use an exec plugin")
    if u.get("username") or u.get("password"):
        raise InputError(path, f"{where}.username", "basic auth is not supported")
    if u.get("exec"):
        return _exec(u["exec"], f"{where}.exec", path, workdir, cluster, server)
    cert, key = _client_cert(u, where, path, workdir)
    if u.get("token"):
        if not isinstance(u["token"], str):
            raise InputError(path, f"{where}.token", "must be a string")
        return Credentials(u["token"], cert, key, "token" + (" + client certificate" if cert else ""))
    if u.get("tokenFile"):
        token = _file(path.parent, u["tokenFile"], path, f"{where}.tokenFile").read_text().strip()
        if not token:
            raise InputError(path, f"{where}.tokenFile", "is empty")
        return Credentials(token, cert, key, "tokenFile")
    if cert:
        return Credentials(None, cert, key, "client certificate")
    raise InputError(path, where, "no credentials (token, tokenFile, client-certificate or exec)")


def _client_cert(u: dict[str, Any], where: str, path: Path, workdir: Path) -> tuple[Path | None, Path | None]:
    def part(kind: str) -> bytes | None:
        if u.get(f"client-{kind}-data"):
            return _data(u[f"client-{kind}-data"], path, f"{where}.client-{kind}-data")
        if u.get(f"client-{kind}"):
            return _file(path.parent, u[f"client-{kind}"], path, f"{where}.client-{kind}").read_bytes()
        return None

    cert, key = part("certificate"), part("key")
    if (cert is None) != (key is None):
        missing = "client-key" if key is None else "client-certificate"
        raise InputError(path, f"{where}.{missing}", "a client certificate needs its key (and the other way round)")
    if cert is None or key is None:
        return None, None
    return write_private(workdir / "client.crt", cert), write_private(workdir / "client.key", key)


def _exec(spec: Any, where: str, path: Path, workdir: Path, cluster: dict[str, Any], server: str) -> Credentials:
    """Run a client-go exec credential plugin once (non-interactive), as kubectl would."""
    if not isinstance(spec, dict) or not spec.get("command"):
        raise InputError(path, f"{where}.command", "missing")
    api = spec.get("apiVersion") or "client.authentication.k8s.io/v1"
    if spec.get("interactiveMode") == "Always":
        raise InputError(path, f"{where}.interactiveMode", "Always: auditbench runs the plugin without a terminal")
    env = dict(os.environ)
    for i, item in enumerate(spec.get("env") or []):
        if not isinstance(item, dict) or "name" not in item:
            raise InputError(path, f"{where}.env[{i}]", "needs name and value")
        env[str(item["name"])] = str(item.get("value", ""))
    info: dict[str, Any] = {"apiVersion": api, "kind": "ExecCredential", "spec": {"interactive": False}}
    if spec.get("provideClusterInfo"):
        info["spec"]["cluster"] = {"server": server, "certificate-authority-data": cluster.get("certificate-authority-data"),
                                   "config": cluster.get("extensions")}
    env["KUBERNETES_EXEC_INFO"] = json.dumps(info)
    command = str(spec["command"])
    if "/" in command and not Path(command).is_absolute():
        command = str(path.parent / command)  # client-go: relative to the kubeconfig
    argv = [command, *[str(a) for a in spec.get("args") or []]]
    try:
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=_EXEC_TIMEOUT_S,
                              stdin=subprocess.DEVNULL, check=False)
    except FileNotFoundError:
        raise InputError(path, f"{where}.command", f"{command} not found") from None
    except subprocess.TimeoutExpired:
        raise EnvironmentProblem(f"the exec credential plugin {command} did not answer in {_EXEC_TIMEOUT_S:.0f}s") from None
    if proc.returncode != 0:
        raise EnvironmentProblem(f"the exec credential plugin {command} failed (exit {proc.returncode})",
                                 " ".join(proc.stderr.split())[-300:] or None)
    try:
        status = json.loads(proc.stdout)["status"]
    except (ValueError, KeyError, TypeError):
        raise EnvironmentProblem(f"the exec credential plugin {command} printed no ExecCredential status") from None
    expires = status.get("expirationTimestamp")
    if status.get("token"):
        return Credentials(str(status["token"]), None, None, f"exec: {Path(command).name}", expires)
    if status.get("clientCertificateData") and status.get("clientKeyData"):
        cert = write_private(workdir / "client.crt", str(status["clientCertificateData"]).encode())
        key = write_private(workdir / "client.key", str(status["clientKeyData"]).encode())
        return Credentials(None, cert, key, f"exec: {Path(command).name} (client certificate)", expires)
    raise EnvironmentProblem(f"the exec credential plugin {command} returned neither a token nor a client certificate")
