"""`auditbench doctor`: what is present, and what to do about anything missing.

Each check says what needs it: the local backend (the default: `run`, `measure`, `up`),
the kind backend, or only an optional cross-check. `doctor` fails when something the
local backend needs is missing, so a script can run it as a preflight.
"""

from __future__ import annotations

import importlib.metadata as md
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from bench.controlplane import build as cpbuild

_PY_DEPS = ("locust", "kubernetes", "prometheus-client", "pandas", "matplotlib", "duckdb", "pydantic",
            "typer", "rich", "cryptography", "jinja2", "scipy", "psutil")
_TIMEOUT_S = 20.0

Need = Literal["local", "kind", "optional"]


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    needed_by: Need


def _run(argv: Sequence[str]) -> tuple[bool, str]:
    """(answered, first line of its output); a hang or a missing binary is a failed check, not a traceback."""
    try:
        res = subprocess.run(list(argv), capture_output=True, text=True, timeout=_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return False, f"`{' '.join(argv)}` did not answer in {_TIMEOUT_S:.0f}s"
    except OSError as exc:
        return False, f"cannot run {argv[0]}: {exc.strerror or exc}"
    text = res.stdout.strip() or res.stderr.strip()
    return res.returncode == 0, text.splitlines()[0] if text else f"exit {res.returncode}, no output"


def _binaries() -> list[Check]:
    target = cpbuild.cache_dir()
    if not cpbuild.is_complete(target):
        hint = f"not built; run `auditbench controlplane build` (cache: {target})"
        return [Check("control-plane binaries", False, hint, "local")]
    rows = []
    for name, pattern in (("kube-apiserver", cpbuild._K8S_VERSION), ("kube-controller-manager", cpbuild._K8S_VERSION),
                          ("etcd", cpbuild._ETCD_VERSION)):
        try:
            ver = cpbuild.binary_version(target / name, pattern)
            rows.append(Check(name, True, f"{ver} ({target / name})", "local"))
        except Exception as exc:  # a corrupt cache is reported, not raised
            rows.append(Check(name, False, f"{exc}; run `auditbench controlplane build --force`", "local"))
    return rows


def _go(binaries_built: bool) -> Check:
    # Go builds the control plane once; with the binaries in the cache it is only needed by kind's config check.
    if shutil.which("go") is None:
        return Check("go toolchain", False, "install Go >= 1.26 to build the control plane",
                     "kind" if binaries_built else "local")
    ok, detail = _run(["go", "version"])
    return Check("go toolchain", ok, detail, "kind" if binaries_built else "local")


def _python() -> list[Check]:
    rows = []
    for dep in _PY_DEPS:
        try:
            rows.append(Check(f"python: {dep}", True, md.version(dep), "local"))
        except md.PackageNotFoundError:
            rows.append(Check(f"python: {dep}", False, "pip install -e . (from the checkout)", "local"))
    return rows


def _tool(name: str, argv: Sequence[str], what: str, hint: str, needed_by: Need) -> Check:
    if shutil.which(argv[0]) is None:
        return Check(f"{name} ({what})", False, hint, needed_by)
    ok, detail = _run(argv)
    return Check(f"{name} ({what})", ok, detail, needed_by)


def _docker() -> Check:
    if shutil.which("docker") is None:
        return Check("docker (kind backend)", False, "install Docker to use the kind backend", "kind")
    ok, detail = _run(["docker", "info", "--format", "{{.ServerVersion}}"])
    if ok:
        return Check("docker engine (kind backend)", True, detail, "kind")
    return Check("docker engine (kind backend)", False,
                 f"client present but no engine answers ({detail}); the kind backend cannot run here", "kind")


def checks() -> list[Check]:
    binaries = _binaries()
    built = all(c.ok for c in binaries)
    return [
        _go(built), *binaries, *_python(),
        # every child is started through them (bench.controlplane.procs)
        _tool("setpriv", ["setpriv", "--version"], "util-linux", "apt-get install util-linux", "local"),
        _tool("taskset", ["taskset", "--version"], "util-linux", "apt-get install util-linux", "local"),
        _tool("jq", ["jq", "--version"], "detections cross-check, logs bench", "apt-get install jq", "optional"),
        _docker(),
        _tool("kind", ["kind", "version"], "kind backend", "go install sigs.k8s.io/kind@v0.33.0", "kind"),
    ]


def local_backend_ready(rows: Sequence[Check]) -> bool:
    return all(c.ok for c in rows if c.needed_by == "local")
