"""Fault injection for the real `auditbench` CLI, and the processes a run leaves behind.

``python -m tests.integration.faults ARGS`` runs ``auditbench ARGS`` through bench.cli.main,
exactly as the console script does, with one test-only measurement added: "fault". When
``AB_FAULT`` is set to ``TARGET@SECONDS[@VARIANT]`` it acts on TARGET that many seconds after
the window's start edge, so the fault falls mid-window whatever the set-up took:
kube-apiserver, etcd, kube-controller-manager (the cluster's own child) or "harness" (the
process running the variant) get SIGKILL; "audit-disk" fills the file system that holds the
audit log (a small tmpfs given with --audit-log-dir) to its last byte. VARIANT is a variant
id, or "first": the fault fires in that variant only (the run must go on to the next). Each
fault is appended to ``AB_FAULT_LOG`` as one JSON line before it acts.

Every process a run starts inherits the environment, so a marker in it (``AB_FAULT_MARKER``)
finds exactly this test's processes on a machine where others run clusters too.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import yaml

from bench.measure.base import BaseMeasurement, Context, Edge, register
from bench.paths import project_root
from bench.results import store
from bench.results.schema import VariantResult

ENV = "AB_FAULT"
LOG_ENV = "AB_FAULT_LOG"
MARKER_ENV = "AB_FAULT_MARKER"
ROLES = ("etcd", "kube-apiserver", "kube-controller-manager", "locust", "webhook-receiver")


def parse(spec: str) -> tuple[str, float, str | None]:
    target, seconds, *variant = spec.split("@")
    return target, float(seconds), (variant[0] if variant else None)


@register
class Fault(BaseMeasurement):
    """SIGKILL a component a fixed time after the window's start edge (see the module doc)."""

    name = "fault"

    measured = 0  # variants this process has measured (for VARIANT "first")

    def __init__(self) -> None:
        self._timer: threading.Timer | None = None
        self._filler: Path | None = None

    def edge(self, ctx: Context, edge: Edge) -> None:
        spec = os.environ.get(ENV)
        if edge != "start" or not spec:
            return
        Fault.measured += 1
        target, seconds, variant = parse(spec)
        if variant is not None and variant != ctx.variant.id and not (variant == "first" and Fault.measured == 1):
            return
        record: dict[str, Any] = {"target": target, "variant": ctx.variant.id, "window_start": ctx.edges["start"]}
        if target == "audit-disk":
            self._filler = filler = ctx.cluster.audit_log_path.parent.parent / "filler"
            action = lambda: fill(filler)  # noqa: E731
        else:
            # ctx.cluster is the local backend; its LocalCluster knows the processes by name.
            record["pid"] = pid = os.getpid() if target == "harness" else ctx.cluster.cluster._child(target).pid  # noqa: SLF001
            action = lambda: os.kill(pid, signal.SIGKILL)  # noqa: E731
        self._timer = threading.Timer(seconds, self._fire, (record, action))
        self._timer.daemon = True
        self._timer.start()

    @staticmethod
    def _fire(record: dict[str, Any], action: Any) -> None:
        record["at"] = time.time()
        log = os.environ.get(LOG_ENV)
        if log:
            with open(log, "a") as fh:  # before acting: a killed harness writes nothing after
                fh.write(json.dumps(record) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
        action()

    def stop(self, ctx: Context) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._filler is not None:  # the next variant starts with the space it had
            self._filler.unlink(missing_ok=True)


def fill(path: Path) -> int:
    """Write ``path`` until its file system is full; the bytes written."""
    written = 0
    chunk = b"\0" * 65536
    with open(path, "wb", buffering=0) as fh:
        while True:
            try:
                written += fh.write(chunk)
            except OSError:  # ENOSPC: full
                return written


def role(p: psutil.Process) -> str | None:
    """Which of the harness's processes ``p`` is (None: something else, such as setpriv)."""
    cmd = p.cmdline()
    if not cmd:
        return None
    name = Path(cmd[0]).name
    if name in ROLES[:3]:
        return name
    text = " ".join(cmd)
    if "bench.webhook.server" in text:
        return "webhook-receiver"
    if "-m locust" in text or "locust" in name:
        return "locust"
    return None


def processes(marker: str) -> dict[str, list[int]]:
    """Live processes carrying ``marker`` in their environment, by role."""
    found: dict[str, list[int]] = {}
    for p in psutil.process_iter():
        try:
            if p.environ().get(MARKER_ENV) != marker or p.status() == psutil.STATUS_ZOMBIE:
                continue
            r = role(p)
        except psutil.Error:
            continue
        if r is not None:
            found.setdefault(r, []).append(p.pid)
    return found


def wait_gone(marker: str, timeout: float) -> dict[str, list[int]]:
    """Wait until no process with ``marker`` is left (children die on their parent's death
    signal within a second or two); what is still there at the deadline."""
    deadline = time.monotonic() + timeout
    left = processes(marker)
    while left and time.monotonic() < deadline:
        time.sleep(0.25)
        left = processes(marker)
    return left


def read_log(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []




class Harness:
    """`auditbench` as a user runs it, in its own corner: results, cache (so the process
    registry that `cleanup` reads is this test's alone), temporary files and a marker."""

    def __init__(self, root: Path, bin_dir: Path) -> None:
        self.root = root
        self.results = root / "results"
        self.tmp = root / "tmp"
        self.fault_log = root / "fault.log"
        self.marker = f"{root.name}-{os.getpid()}"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "AUDITBENCH_RESULTS_DIR": str(self.results), "AUDITBENCH_CACHE_DIR": str(root / "cache"),
                    "AUDITBENCH_BIN_DIR": str(bin_dir), "TMPDIR": str(self.tmp), MARKER_ENV: self.marker,
                    LOG_ENV: str(self.fault_log), "COLUMNS": "250"}
        self.env.pop(ENV, None)

    def start(self, *args: str, fault: str | None = None) -> subprocess.Popen[str]:
        env = {**self.env, **({ENV: fault} if fault else {})}
        return subprocess.Popen([sys.executable, "-m", "tests.integration.faults", *args], cwd=project_root(),
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def run(self, *args: str, fault: str | None = None, timeout: float = 600) -> tuple[int, str]:
        """Exit code and output (see :func:`flat` to assert a message rich wrapped)."""
        proc = self.start(*args, fault=fault)
        try:
            out, _ = proc.communicate(timeout=timeout)
        finally:
            if proc.poll() is None:
                proc.kill()
        print(out)
        return proc.returncode, out

    def scenario(self, doc: dict[str, Any]) -> Path:
        path = self.root / f"{doc['name']}.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path

    def faults(self) -> list[dict[str, Any]]:
        return read_log(self.fault_log)

    def run_dirs(self) -> list[Path]:
        return sorted(p.parent for p in self.results.glob("*/run.json"))

    def scratch_left(self) -> list[Path]:
        """The harness's temporary directories still present (a variant's scratch, etcd's data)."""
        return sorted(self.tmp.glob("auditbench-*"))

    def assert_nothing_left(self, timeout: float = 20.0) -> None:
        """No process of this test's runs alive, no half-written file, every result readable."""
        left = wait_gone(self.marker, timeout)
        assert not left, f"processes left behind: {left}"
        half = [p for p in self.results.rglob("*") if p.name.endswith(".tmp")]
        assert not half, f"half-written files: {half}"
        for run_dir in self.run_dirs():
            store.read_manifest(run_dir)
            store.load_variants(run_dir)


def flat(out: str) -> str:
    """Output with its whitespace runs as single spaces: rich wraps lines at 180 columns when
    not on a terminal, so a long message is asserted on this."""
    return " ".join(out.split())


def results_of(run_dir: Path) -> dict[str, VariantResult]:
    return {r.variant_id: r for r in store.load_variants(run_dir)}


def table_row(out: str, variant_id: str) -> list[str]:
    """The cells of the summary table's row for ``variant_id`` (rich draws it with │)."""
    for line in out.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) > 3 and cells[1] == variant_id:
            return cells[2:-1]
    raise AssertionError(f"no summary row for {variant_id}")


def main() -> None:
    from bench.cli import main as cli_main
    from bench.measure import variant

    variant.MEASUREMENTS = (*variant.MEASUREMENTS, Fault.name)
    cli_main()


if __name__ == "__main__":
    main()
