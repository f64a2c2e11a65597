"""The audit webhook receiver, as the harness sees it: start, read counters, stop.

The receiver runs in its own process (bench.webhook.server) so that neither the
harness nor Locust share its CPU or GIL; this module starts it, writes its certificates and
the kubeconfig for --audit-webhook-config-file, and relays stats/stop over a pipe.

    with Receiver.start_in(run_dir, Faults(delay_ms=50)) as receiver:
        ... LocalCluster(..., webhook_kubeconfig=receiver.kubeconfig_path) ...
        live = receiver.stats()
    final = receiver.stop()   # idempotent; also what __exit__ calls

Every accepted batch is appended to ``capture.webhook.jsonl`` as one line
``{"received_at": <unix>, "bytes": <int>, "events": [...]}`` whose events are the bytes the
apiserver sent, unchanged.
"""

from __future__ import annotations

import ipaddress
import json
import queue
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from bench.controlplane import pki
from bench.controlplane.kubeconfig import write_webhook_kubeconfig
from bench.controlplane.procs import exec_prefix
from bench.errors import EnvironmentProblem, InputError

CAPTURE_NAME = "capture.webhook.jsonl"
KUBECONFIG_NAME = "webhook.kubeconfig"
_PATH = "/audit"  # as in the reference article's webhook-config.yaml
_START_TIMEOUT = 20.0
_REPLY_TIMEOUT = 10.0


@dataclass(frozen=True)
class Faults:
    """Fault injection. ``down_after_s``/``down_for_s`` count from the moment the receiver
    accepts connections; while down the listener is closed and open connections are reset
    (what a crashed or restarting receiver looks like), so the apiserver sees refused
    connections, not HTTP 503s."""

    delay_ms: float = 0.0
    error_rate: float = 0.0
    seed: int = 0
    down_after_s: float | None = None
    down_for_s: float = 0.0

    def __post_init__(self) -> None:
        if self.delay_ms < 0:
            raise InputError(None, "delay_ms", f"must be >= 0, got {self.delay_ms}")
        if not 0.0 <= self.error_rate <= 1.0:
            raise InputError(None, "error_rate", f"must be between 0 and 1, got {self.error_rate}")
        if self.down_after_s is not None and self.down_after_s < 0:
            raise InputError(None, "down_after_s", f"must be >= 0, got {self.down_after_s}")
        if self.down_for_s < 0:
            raise InputError(None, "down_for_s", f"must be >= 0, got {self.down_for_s}")
        if (self.down_after_s is None) != (self.down_for_s == 0):
            raise InputError(None, "down_for_s", "down_after_s and down_for_s go together")


class Receiver:
    """Handle on a running receiver process. Build it with :meth:`start_in`."""

    def __init__(self, directory: Path, faults: Faults, proc: subprocess.Popen[bytes], lines: _Lines, port: int,
                 ca_file: Path, log_path: Path, host: str = "127.0.0.1") -> None:
        self.directory = directory
        self.faults = faults
        self._proc = proc
        self._lines = lines
        self.port = port
        self.host = host
        self.url = f"https://{_url_host(host)}:{port}{_PATH}"
        self.ca_file = ca_file
        self.capture_path = directory / CAPTURE_NAME
        self.kubeconfig_path = directory / KUBECONFIG_NAME
        self.log_path = log_path
        self.started_at = time.time()  # accepting connections from here on
        self._lock = threading.Lock()
        self._final: dict[str, Any] | None = None
        write_webhook_kubeconfig(self.kubeconfig_path, self.url, ca_file)

    # --- start ---------------------------------------------------------------------------
    @classmethod
    def start_in(cls, directory: Path, faults: Faults | None = None, *, cpus: set[int] | None = None,
                 host: str = "127.0.0.1", port: int = 0, pki_dir: Path | None = None,
                 nice: int | None = None) -> Receiver:
        """Start a receiver whose files live in ``directory``; returns once it accepts connections.

        ``cpus`` pins the receiver (the load side of the machine, see design.md). ``host`` is the
        bind address: loopback always, except for the kind backend, whose apiserver runs in a
        container and reaches the host through the docker network's gateway, a private address
        (see docs/kind.md). Wildcard and public addresses are refused.

        ``port`` and ``pki_dir`` (a directory made by :func:`write_pki`): a receiver that an
        apiserver someone else configured already points at (external backend), so its address
        and CA stay the same from run to run."""
        _check_bind(host)
        faults = faults or Faults()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        cert, key, ca_file = existing_pki(pki_dir) if pki_dir is not None else _write_pki(directory / "webhook-pki", host)
        log_path = directory / "webhook-receiver.log"
        config = {"host": host, "port": port, "cert": str(cert), "key": str(key),
                  "capture": str(directory / CAPTURE_NAME), **asdict(faults)}
        # Pinned before exec (taskset), so no thread of it ever runs outside ``cpus``. No death
        # signal: it watches its stdin and parent pid instead (see bench.webhook.server).
        argv = exec_prefix(cpus, die_with_parent=False, nice=nice) + [sys.executable, "-m", "bench.webhook.server",
                                                                     json.dumps(config)]
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, close_fds=True)
        assert proc.stdout is not None
        lines = _Lines(proc.stdout)
        ready = lines.next(_START_TIMEOUT)
        if not ready or not ready.get("ready"):
            proc.kill()
            proc.wait()
            raise EnvironmentProblem("the webhook receiver did not start", f"see {log_path}")
        return cls(directory, faults, proc, lines, int(ready["port"]), ca_file, log_path, host)

    # --- use -----------------------------------------------------------------------------
    @property
    def pid(self) -> int:
        return self._proc.pid

    def running(self) -> bool:
        return self._proc.poll() is None

    def stats(self) -> dict[str, Any]:
        """Live counters (after stop: the final ones)."""
        with self._lock:
            if self._final is not None:
                return self._final
            return self._ask({"cmd": "stats"})

    def go_down(self, seconds: float) -> None:
        """Take the receiver down now for ``seconds`` (listener closed, connections reset)."""
        with self._lock:
            if self._final is None:
                self._ask({"cmd": "down", "seconds": seconds})

    def set_faults(self, delay_ms: float = 0.0, error_rate: float = 0.0) -> None:
        """From now on, answer each batch after ``delay_ms`` and fail this share with HTTP 500
        (0, 0: healthy again). The error draws keep the seed's sequence."""
        with self._lock:
            if self._final is None:
                reply = self._ask({"cmd": "faults", "delay_ms": delay_ms, "error_rate": error_rate})
                if "error" in reply:
                    raise InputError(None, "faults", str(reply["error"]))

    def stop(self) -> dict[str, Any]:
        """Stop accepting, flush the capture file, and return the final stats. Idempotent."""
        with self._lock:
            if self._final is not None:
                return self._final
            final: dict[str, Any] | None = None
            try:
                reply = self._ask({"cmd": "stop"})
                final = reply.get("final")
            except (OSError, EnvironmentProblem):
                pass
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            if self._proc.stdin is not None:
                self._proc.stdin.close()
            if final is None:
                raise EnvironmentProblem("the webhook receiver died before it reported its final stats",
                                         f"see {self.log_path}")
            self._final = final
            return final

    def _ask(self, cmd: dict[str, Any]) -> dict[str, Any]:
        proc = self._proc
        assert proc.stdin is not None
        if proc.poll() is not None:
            raise EnvironmentProblem(f"the webhook receiver exited with code {proc.returncode}", f"see {self.log_path}")
        proc.stdin.write((json.dumps(cmd) + "\n").encode())
        proc.stdin.flush()
        reply = self._lines.next(_REPLY_TIMEOUT)
        if reply is None:
            raise EnvironmentProblem("the webhook receiver did not answer", f"see {self.log_path}")
        return reply

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.stop()
        except EnvironmentProblem:
            if exc[0] is None:
                raise


class _Lines:
    """Reads the receiver's stdout on a daemon thread, so a reply can be awaited with a
    timeout (select() on a buffered pipe can miss a line already in the buffer)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._queue: queue.Queue[bytes] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True, name="webhook-receiver-stdout")
        self._thread.start()

    def _pump(self, stream: IO[bytes]) -> None:
        for line in iter(stream.readline, b""):
            self._queue.put(line)
        self._queue.put(b"")  # EOF

    def next(self, timeout: float) -> dict[str, Any] | None:
        """The next JSON line, or None on timeout or EOF."""
        try:
            line = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if not line:
            self._queue.put(b"")  # keep reporting EOF
            return None
        return json.loads(line)


def _check_bind(host: str) -> None:
    """Loopback, or a private non-wildcard address such as a docker bridge gateway (kind backend)."""
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        raise InputError(None, "host", f"bind address must be an IP address, got {host!r}") from None
    if addr.is_loopback:
        return
    if addr.is_unspecified or not addr.is_private or addr.is_link_local:
        raise InputError(None, "host", f"refusing to bind the webhook receiver to {host}: "
                         "only loopback or a private docker-network gateway address")


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def existing_pki(directory: Path) -> tuple[Path, Path, Path]:
    """The receiver certificate, key and CA a :func:`write_pki` directory holds."""
    paths = (directory / "receiver.crt", directory / "receiver.key", directory / "ca.crt")
    for p in paths:
        if not p.is_file():
            raise InputError(directory, p.name, "missing: make the directory with `auditbench external receiver`")
    return paths


def write_pki(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path, Path]:
    """A fresh CA and a serving certificate for ``host``: (cert, key, CA)."""
    return _write_pki(directory, host)


def _write_pki(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path, Path]:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)  # holds the receiver's private key
    ca = pki.make_ca("auditbench-webhook-ca")
    ca_file, _ = pki.write_pair(directory, "ca", ca)
    ips = ("127.0.0.1",) if host == "127.0.0.1" else ("127.0.0.1", host)
    serving = pki.issue(ca, "audit-receiver", dns=("localhost",), ips=ips, server=True)
    cert, key = pki.write_pair(directory, "receiver", serving)
    return cert, key, ca_file
