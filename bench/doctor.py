"""`auditbench doctor`: what is present, and what to do about anything missing."""

from __future__ import annotations

import importlib.metadata as md
import shutil
import subprocess

from bench.controlplane import build as cpbuild

_PY_DEPS = ("locust", "kubernetes", "prometheus-client", "pandas", "matplotlib", "duckdb", "pydantic",
            "typer", "rich", "cryptography", "jinja2", "scipy", "psutil")


def _run(argv: list[str]) -> str:
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=20)
        return (res.stdout or res.stderr).strip().splitlines()[0] if (res.stdout or res.stderr) else ""
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"error: {exc}"


def checks() -> list[tuple[str, bool, str]]:
    rows: list[tuple[str, bool, str]] = []
    go = shutil.which("go")
    rows.append(("go toolchain", go is not None, _run(["go", "version"]) if go else "install Go >= 1.26 to build the control plane"))
    target = cpbuild.cache_dir()
    if cpbuild.is_complete(target):
        for name, pattern in (("kube-apiserver", cpbuild._K8S_VERSION), ("kube-controller-manager", cpbuild._K8S_VERSION), ("etcd", cpbuild._ETCD_VERSION)):
            try:
                ver = cpbuild.binary_version(target / name, pattern)
                rows.append((name, True, f"{ver} ({target / name})"))
            except Exception as exc:  # a corrupt cache is reported, not raised
                rows.append((name, False, f"{exc}; run `auditbench controlplane build --force`"))
    else:
        rows.append(("control-plane binaries", False, f"not built; run `auditbench controlplane build` (cache: {target})"))
    for dep in _PY_DEPS:
        try:
            rows.append((f"python: {dep}", True, md.version(dep)))
        except md.PackageNotFoundError:
            rows.append((f"python: {dep}", False, "pip install -e . (from the checkout)"))
    for tool in ("setpriv", "taskset"):  # every child is started through them (bench.controlplane.procs)
        path = shutil.which(tool)
        rows.append((f"{tool} (util-linux)", path is not None,
                     _run([tool, "--version"]) if path else "apt-get install util-linux"))
    jq = shutil.which("jq")
    rows.append(("jq (detections cross-check, logs bench)", jq is not None, _run(["jq", "--version"]) if jq else "apt-get install jq"))
    docker = shutil.which("docker")
    if docker:
        info = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True, timeout=20)
        engine = info.returncode == 0 and info.stdout.strip() != ""
        rows.append(("docker engine (kind backend)", engine, info.stdout.strip() if engine else "client present but no engine answers; the kind backend cannot run here"))
    else:
        rows.append(("docker (kind backend)", False, "install Docker to use the kind backend"))
    kind = shutil.which("kind")
    rows.append(("kind (kind backend)", kind is not None, _run(["kind", "version"]) if kind else "go install sigs.k8s.io/kind@v0.33.0"))
    return rows
