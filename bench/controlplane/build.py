"""Build etcd, kube-apiserver and kube-controller-manager from the Go modules in controlplane/.

Binaries land in a per-user cache keyed by the Kubernetes and etcd versions plus a hash of
the module files, so a complete cache is reused and a changed go.mod forces a rebuild.
Go's build and module caches live under the same root so a fresh build reuses them too.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from bench.atomic import write_json
from bench.controlplane.procs import Child
from bench.errors import EnvironmentProblem
from bench.paths import cache_root, project_root

KUBERNETES_VERSION = "v1.37.2"
ETCD_VERSION = "v3.7.0"  # what k8s.io/kubernetes v1.37.2 pins (build/dependencies.yaml)
BINARIES = ("kube-apiserver", "kube-controller-manager", "etcd")


@dataclass(frozen=True)
class Binaries:
    kube_apiserver: Path
    kube_controller_manager: Path
    etcd: Path
    kubernetes_version: str
    etcd_version: str
    source: str  # "cache", "built" or "user"

    def as_dict(self) -> dict[str, str]:
        return {
            "kube-apiserver": str(self.kube_apiserver),
            "kube-controller-manager": str(self.kube_controller_manager),
            "etcd": str(self.etcd),
            "kubernetes_version": self.kubernetes_version,
            "etcd_version": self.etcd_version,
            "source": self.source,
        }


def source_dir() -> Path:
    return project_root() / "controlplane"


# Nested Go modules under controlplane/ that do not go into the control-plane binaries;
# their edits must not invalidate the (expensive) control-plane cache.
_NOT_CONTROL_PLANE = ("kindcheck",)


def _module_hash(src: Path) -> str:
    digest = hashlib.sha256()
    files = (p for p in src.rglob("*") if p.is_file() and p.suffix in (".go", ".mod", ".sum"))
    for rel in sorted(p for p in files if p.relative_to(src).parts[0] not in _NOT_CONTROL_PLANE):
        digest.update(str(rel.relative_to(src)).encode())
        digest.update(rel.read_bytes())
    return digest.hexdigest()[:12]


def cache_key(src: Path | None = None) -> str:
    """Names the binaries' cache entry; CI caches (actions/cache) use the same key."""
    return f"k8s-{KUBERNETES_VERSION}_etcd-{ETCD_VERSION}_{_module_hash(src or source_dir())}"


def cache_dir(src: Path | None = None) -> Path:
    return cache_root() / "bin" / cache_key(src)


def go_env() -> dict[str, str]:
    root = cache_root() / "go"
    env = dict(os.environ)
    env.update(
        GOCACHE=str(root / "build"),
        GOMODCACHE=str(root / "mod"),
        CGO_ENABLED="0",  # static binaries; no libc differences between machines
        GOFLAGS="-mod=readonly -buildvcs=false",
    )
    return env


def _ldflags() -> str:
    major, minor = KUBERNETES_VERSION.lstrip("v").split(".")[:2]
    pkg = "k8s.io/component-base/version"
    return " ".join(
        [
            "-s -w",
            f"-X {pkg}.gitVersion={KUBERNETES_VERSION}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
            f"-X {pkg}.buildDate=1970-01-01T00:00:00Z",  # reproducible builds
        ]
    )


class _PeakMemory:
    """Samples the summed RSS of a process tree once a second (go build runs many compilers)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                root = psutil.Process(self.pid)
                procs = [root, *root.children(recursive=True)]
                total = 0
                for p in procs:
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:
                        pass
                self.peak = max(self.peak, total)
            except psutil.Error:
                pass
            self._stop.wait(0.5)

    def __enter__(self) -> _PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _go_build(args: list[str], cwd: Path, log_path: Path) -> tuple[float, int]:
    """Run one `go build`; return (seconds, peak tree RSS bytes).

    It runs as a Child: its own process group (go, compile, link and asm), a death signal, a
    registry record. Ctrl-C or SIGTERM (bench.signals) during the build kills the whole group,
    so no compiler goes on running after the harness has stopped."""
    started = time.monotonic()
    child = Child("go-build", ["go", "build", *args], log_path, env=go_env(), cwd=cwd).start()
    try:
        with _PeakMemory(child.pid) as mem:
            rc = child.wait()
    finally:
        child.stop(grace=3.0)  # at once after a finished build; SIGTERM, then SIGKILL, when interrupted
    if rc != 0:
        raise EnvironmentProblem(f"go build failed in {cwd} (exit {rc})", f"see {log_path}")
    return time.monotonic() - started, mem.peak


def is_complete(directory: Path) -> bool:
    return (directory / "BUILD.json").is_file() and all((directory / b).is_file() for b in BINARIES)


def build(force: bool = False, echo=print) -> tuple[Binaries, dict]:
    """Build into the cache (or reuse it). Returns the binaries and the build record."""
    if shutil.which("go") is None:
        raise EnvironmentProblem("the Go toolchain is not on PATH", "install Go 1.26 or newer")
    src = source_dir()
    if not (src / "go.mod").is_file():
        raise EnvironmentProblem(f"{src} has no go.mod", "run from an auditbench checkout")
    target = cache_dir(src)
    if is_complete(target) and not force:
        record = json.loads((target / "BUILD.json").read_text())
        return _binaries(target, "cache"), record
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    log_path = cache_root() / "logs" / f"build-{target.name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    echo(f"building kube-apiserver, kube-controller-manager ({KUBERNETES_VERSION}) and etcd ({ETCD_VERSION}); log: {log_path}")
    log_path.write_text("")  # each build appends to a fresh log
    k_secs, k_mem = _go_build(
        ["-trimpath", "-ldflags", _ldflags(), "-o", str(staging) + "/",
         "./cmd/kube-apiserver", "./cmd/kube-controller-manager"],
        src, log_path,
    )
    e_secs, e_mem = _go_build(
        ["-trimpath", "-ldflags", "-s -w", "-o", str(staging) + "/", "./cmd/etcd"], src / "etcd", log_path
    )
    record = {
        "kubernetes_version": KUBERNETES_VERSION,
        "etcd_version": ETCD_VERSION,
        "go_version": subprocess.run(["go", "version"], capture_output=True, text=True).stdout.strip(),
        "build_seconds": round(k_secs + e_secs, 1),
        "build_seconds_kube": round(k_secs, 1),
        "build_seconds_etcd": round(e_secs, 1),
        "peak_tree_rss_bytes": max(k_mem, e_mem),
        "cpu_count": os.cpu_count(),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_json(staging / "BUILD.json", record)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)  # a build is visible only once complete
    return _binaries(target, "built"), record


def _binaries(directory: Path, source: str) -> Binaries:
    bins = Binaries(
        directory / "kube-apiserver", directory / "kube-controller-manager", directory / "etcd",
        KUBERNETES_VERSION, ETCD_VERSION, source,
    )
    return check_versions(bins) if source == "user" else bins


_K8S_VERSION = re.compile(r"Kubernetes (v\d+\.\d+\.\d+\S*)")
_ETCD_VERSION = re.compile(r"etcd Version: (\d+\.\d+\.\d+\S*)")


def binary_version(path: Path, pattern: re.Pattern[str]) -> str:
    try:
        out = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EnvironmentProblem(f"{path}: cannot run --version ({exc})") from exc
    match = pattern.search(out.stdout + out.stderr)
    if not match:
        raise EnvironmentProblem(f"{path}: --version printed no version", "is this the right binary?")
    return match.group(1)


def check_versions(bins: Binaries) -> Binaries:
    """Read the real versions of user-supplied binaries; refuse ones we cannot drive."""
    api = binary_version(bins.kube_apiserver, _K8S_VERSION)
    kcm = binary_version(bins.kube_controller_manager, _K8S_VERSION)
    etcd = binary_version(bins.etcd, _ETCD_VERSION)
    if api.split(".")[:2] != kcm.split(".")[:2]:
        raise EnvironmentProblem(f"kube-apiserver {api} and kube-controller-manager {kcm} differ in minor version")
    minor = int(api.split(".")[1])
    if minor < 30:
        raise EnvironmentProblem(f"kube-apiserver {api} is too old", "auditbench supports v1.30 and newer")
    if int(etcd.split(".")[0]) < 3 or int(etcd.split(".")[1]) < 5:
        raise EnvironmentProblem(f"etcd {etcd} is too old", "use etcd 3.5 or newer")
    return Binaries(bins.kube_apiserver, bins.kube_controller_manager, bins.etcd, api, "v" + etcd, "user")


def user_binaries(bin_dir: str | None = None) -> Binaries | None:
    """Binaries the user points at: --bin-dir / AUDITBENCH_BIN_DIR, or one variable per binary."""
    bin_dir = bin_dir or os.environ.get("AUDITBENCH_BIN_DIR")
    per = {b: os.environ.get("AUDITBENCH_" + b.upper().replace("-", "_")) for b in BINARIES}
    if not bin_dir and not any(per.values()):
        return None
    paths = {}
    for b in BINARIES:
        p = Path(per[b]) if per[b] else (Path(bin_dir) / b if bin_dir else None)
        if p is None or not p.is_file():
            raise EnvironmentProblem(f"{b} not found at {p}", "set AUDITBENCH_BIN_DIR or AUDITBENCH_" + b.upper().replace("-", "_"))
        paths[b] = p
    return check_versions(
        Binaries(paths["kube-apiserver"], paths["kube-controller-manager"], paths["etcd"], "", "", "user")
    )


def resolve(bin_dir: str | None = None, allow_build: bool = True, echo=print) -> Binaries:
    """User binaries if given, else the cache, else build (if allowed)."""
    user = user_binaries(bin_dir)
    if user is not None:
        return user
    target = cache_dir()
    if is_complete(target):
        return _binaries(target, "cache")
    if not allow_build:
        raise EnvironmentProblem("control-plane binaries are not built", "run `auditbench controlplane build`")
    return build(echo=echo)[0]
