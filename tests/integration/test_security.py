"""Security of what the harness starts and keeps, on the real local backend.

- Every listening socket of every process the harness starts (etcd client/peer/metrics,
  kube-apiserver, kube-controller-manager, the webhook receiver, the Locust master in
  distributed mode) is on loopback, read from /proc/net/tcp{,6} while they run.
- Every file that holds a token or a private key is 0600, in a 0700 directory.
- A real measurement's outputs (variant JSON, samples, run.json, scenario, report) hold none of
  the cluster's tokens and none of the canary values the traffic wrote, although the variant's
  own audit log (scratch, kept here on purpose) does hold canaries: the search would find them.
"""

from __future__ import annotations

import gzip
import json
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import yaml
from rich.console import Console

from bench.controlplane.audit import AuditSettings, BatchSettings, LogBackend, WebhookBackend
from bench.controlplane.identities import read_identities_json
from bench.controlplane.local import LocalCluster
from bench.measure.variant import MeasureOptions
from bench.report.build import build_report
from bench.runner import run_scenario
from bench.traffic.canary import find_canaries, read_canaries
from bench.traffic.launcher import ClusterInfo, run_traffic
from bench.webhook.receiver import Receiver
from tests.integration.conftest import policy_path
from tests.procnet import Listener, listeners_of

pytestmark = pytest.mark.integration


def _role(p: psutil.Process) -> str:
    cmd = p.cmdline()
    text = " ".join(cmd)
    for name in ("etcd", "kube-apiserver", "kube-controller-manager"):
        if cmd and Path(cmd[0]).name == name:
            return name
    if "bench.webhook.server" in text:
        return "webhook-receiver"
    if "locust" in text:
        return "locust-master" if "--master" in cmd else "locust-worker" if "--worker" in cmd else "locust"
    return Path(cmd[0]).name if cmd else "?"


class ListenerWatch:
    """Collects the listening sockets of every descendant of this process, every 0.2 s."""

    def __init__(self) -> None:
        self.seen: dict[str, set[Listener]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            for p in me.children(recursive=True):
                try:
                    role = _role(p)
                except psutil.Error:
                    continue
                try:
                    socks = listeners_of(p.pid)
                except OSError:  # it exited between listing and reading
                    continue
                for sock in socks:
                    self.seen.setdefault(role, set()).add(sock)
            self._stop.wait(0.2)

    def __enter__(self) -> ListenerWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _private_files(root: Path, secrets: list[str]) -> Iterator[Path]:
    """Files under root that hold a private key or any of the secrets."""
    for path in root.rglob("*"):
        if not path.is_file() or path.stat().st_size > 50 << 20:
            continue
        data = path.read_bytes()
        if b"PRIVATE KEY" in data or any(s.encode() in data for s in secrets):
            yield path


def test_every_listener_is_loopback_and_every_secret_file_private(binaries, tmp_path: Path) -> None:
    settings = AuditSettings(policy=policy_path("seed-production"), log=LogBackend(enabled=True),
                             webhook=WebhookBackend(enabled=True, batch=BatchSettings(max_wait="1s")))
    with ListenerWatch() as watch, Receiver.start_in(tmp_path / "receiver") as receiver, \
            LocalCluster(audit=settings, binaries=binaries, run_dir=tmp_path / "run",
                         webhook_kubeconfig=receiver.kubeconfig_path) as cluster:
        work = tmp_path / "run" / "traffic"
        run_traffic(ClusterInfo.from_local(cluster), "read-heavy", "closed", 4, None, 3.0, 0.5, 1,
                    work / "samples.csv.gz", work / "canaries.txt", workers=2, work_dir=work / "locust")
        tokens = [i.token for i in read_identities_json(cluster.identities_file).values()]
        private = sorted(_private_files(tmp_path, tokens))
        modes = {str(p.relative_to(tmp_path)): oct(stat.S_IMODE(p.stat().st_mode)) for p in private}
        run_mode = stat.S_IMODE((tmp_path / "run").stat().st_mode)
        pki_mode = stat.S_IMODE((tmp_path / "receiver" / "webhook-pki").stat().st_mode)
    print("listeners:", {role: sorted(f"{s.address}:{s.port}" for s in socks) for role, socks in watch.seen.items()})
    roles = set(watch.seen)
    assert {"etcd", "kube-apiserver", "kube-controller-manager", "webhook-receiver", "locust-master"} <= roles, roles
    assert len(watch.seen["etcd"]) >= 3  # client, peer, metrics
    public = {role: [f"{s.address}:{s.port}" for s in socks if not s.loopback] for role, socks in watch.seen.items()}
    assert not any(public.values()), public
    # Credentials: the token file, identities, kubeconfigs with tokens, every private key.
    print("private files:", modes)
    names = {Path(p).name for p in modes}
    assert {"tokens.csv", "identities.json", "admin.kubeconfig", "controller-manager.kubeconfig", "sa.key",
            "ca.key", "apiserver.key", "receiver.key"} <= names, names
    assert set(modes.values()) == {"0o600"}, modes
    assert run_mode == 0o700 and pki_mode == 0o700


_MEASURE = {  # what `auditbench measure --policy policies/requestresponse-all.yaml --profile security --duration 5s --users 2` runs
    "name": "measure", "description": "security test", "baseline": False,
    "audit": {"log": {"enabled": [True]}, "webhook": {"enabled": [True], "batch_max_wait": ["1s"]}},
    "traffic": {"profiles": ["security"], "duration": "5s", "warmup": "1s", "mode": "closed", "users": 2},
    "repeats": 1, "seed": 0,
}


def _texts(root: Path) -> Iterator[tuple[Path, str]]:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
            yield path, data.decode("utf-8", errors="replace")


def test_a_measurements_outputs_hold_no_token_and_no_canary(binaries, tmp_path: Path) -> None:
    scenario = tmp_path / "measure.yaml"
    scenario.write_text(yaml.safe_dump({**_MEASURE, "policies": [str(policy_path("requestresponse-all"))]}))
    scratch, results = tmp_path / "scratch", tmp_path / "results"
    scratch.mkdir()
    # Scratch kept, so this test can read the tokens and canaries the run used (normally removed).
    options = MeasureOptions(keep_scratch=True, scratch_root=scratch, echo=lambda m: None)
    outcome = run_scenario(scenario, options=options, root=results, console=Console(file=open("/dev/null", "w")))
    (result,) = outcome.results
    assert result.status == "leaked", result.error  # requestresponse-all logs secrets: the canary check trips
    build_report(outcome.run_dir)
    (variant_scratch,) = scratch.iterdir()
    tokens = [i.token for i in read_identities_json(variant_scratch / "cluster" / "identities.json").values()]
    canaries = read_canaries(variant_scratch / "canaries.txt")
    assert len(tokens) >= 5 and len(canaries) >= 10
    # Positive control: the secrets did reach the scratch audit log, and the search finds them there.
    audit_log = "".join(t for p, t in _texts(variant_scratch / "cluster" / "audit"))
    assert find_canaries(audit_log, canaries), "no canary in the audit log: the search below would prove nothing"
    kept = list(_texts(outcome.run_dir))
    names = {p.name for p, _ in kept}
    assert {"run.json", "report.md", "report.html"} <= names and any(n.endswith(".csv.gz") for n in names), names
    print(f"checked {len(kept)} files for {len(tokens)} tokens and {len(canaries)} canaries: {sorted(names)}")
    for path, text in kept:
        assert not [t for t in tokens if t in text], f"a token in {path}"
        assert not find_canaries(text, canaries), f"a canary value in {path}"
    json.loads((outcome.run_dir / "run.json").read_text())  # the run's manifest is whole
