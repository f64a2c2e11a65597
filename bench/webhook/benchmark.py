"""`auditbench webhook bench`: how many events/s the receiver takes over loopback HTTPS.

Sender processes (their own interpreters: they share neither the harness's GIL nor the receiver's)
POST realistic audit.k8s.io/v1 EventList batches, built from bench.logs.synth's event mix
(Metadata, Request and RequestResponse events with real-looking bodies), each with its
stageTimestamps set to the moment of sending so the receiver's lag is meaningful. Each
sender keeps one keep-alive connection and waits for each response, like one of the
apiserver's batch goroutines.
"""

from __future__ import annotations

import http.client
import itertools
import json
import re
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.measure.procstat import read_tree
from bench.webhook.receiver import Receiver

_STAGE_TS = re.compile(r'"stageTimestamp":"[^"]*"')
_MARK = "\x00"


def batch_templates(batch: int, count: int, seed: int = 1) -> list[list[bytes]]:
    """``count`` EventList bodies of ``batch`` events, split where each stageTimestamp goes."""
    from bench.logs.synth import iter_lines

    lines = iter_lines(seed)
    out = []
    for _ in range(count):
        items = ",".join(_STAGE_TS.sub(f'"stageTimestamp":"{_MARK}"', line) for line in itertools.islice(lines, batch))
        body = '{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[' + items + "]}\n"
        out.append([part.encode() for part in body.split(_MARK)])
    return out


def render(template: list[bytes], now: float) -> bytes:
    stamp = datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ").encode()
    return stamp.join(template)


@dataclass(frozen=True)
class SenderJob:
    url: str
    ca_file: str
    batches: int
    batch: int
    seed: int


def sender_main(job: SenderJob) -> None:
    """One sender process: build batches, print "ready", wait for "go" on stdin, send, report."""
    templates = batch_templates(job.batch, 8, job.seed)
    parts = urlsplit(job.url)
    ctx = ssl.create_default_context(cafile=job.ca_file)
    conn = http.client.HTTPSConnection(parts.hostname or "127.0.0.1", parts.port, context=ctx, timeout=60)
    conn.connect()
    statuses: dict[int, int] = {}
    sent_bytes = 0
    print("ready", flush=True)
    sys.stdin.readline()
    for i in range(job.batches):
        body = render(templates[i % len(templates)], time.time())
        conn.request("POST", parts.path, body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        statuses[resp.status] = statuses.get(resp.status, 0) + 1
        sent_bytes += len(body)
    conn.close()
    print(json.dumps({"end": time.time(), "statuses": statuses, "bytes": sent_bytes}), flush=True)


def _spawn_sender(job: SenderJob) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "bench.webhook.benchmark", json.dumps(asdict(job))],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def _expect(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"a bench sender exited with code {proc.wait()}")
    return line


def _cpu(pid: int) -> float:
    sample = read_tree(pid)
    return sample.cpu_seconds if sample else 0.0


def run(events: int, batch: int, senders: int, directory: Path | None = None) -> dict[str, Any]:
    """Send ``events`` (rounded up to whole batches, split over senders); return the figures."""
    if events <= 0 or batch <= 0 or senders <= 0:
        raise ValueError("events, batch and senders must be positive")
    per_sender = -(-events // (batch * senders))
    with tempfile.TemporaryDirectory(prefix="auditbench-webhook-bench-") as tmp:
        with Receiver.start_in(directory or Path(tmp)) as receiver:
            procs = [_spawn_sender(SenderJob(receiver.url, str(receiver.ca_file), per_sender, batch, seed))
                     for seed in range(1, senders + 1)]
            try:
                for p in procs:
                    _expect(p)  # "ready": batches built, connection open
                before = read_tree(receiver.pid)
                senders_before = sum(_cpu(p.pid) for p in procs)
                t0 = time.time()
                for p in procs:
                    assert p.stdin is not None
                    p.stdin.write("go\n")
                    p.stdin.flush()
                reports = [json.loads(_expect(p)) for p in procs]
                after = read_tree(receiver.pid)
                senders_cpu = sum(_cpu(p.pid) for p in procs) - senders_before
            finally:
                for p in procs:
                    if p.poll() is None:
                        p.kill()
                    p.wait()
            stats = receiver.stop()
    wall = max(r["end"] for r in reports) - t0
    cpu = (after.cpu_seconds - before.cpu_seconds) if before and after else None
    statuses: dict[str, int] = {}
    for r in reports:
        for code, n in r["statuses"].items():
            statuses[str(code)] = statuses.get(str(code), 0) + n
    return {
        "events_sent": per_sender * batch * senders,
        "events_received": stats["events"],
        "batches": stats["batches"],
        "batch": batch,
        "senders": senders,
        "bytes": stats["bytes"],
        "bytes_per_event": round(stats["bytes"] / max(1, stats["events"])),
        "wall_s": round(wall, 3),
        "events_per_s": round(stats["events"] / wall),
        "mb_per_s": round(stats["bytes"] / wall / 1e6, 1),
        "receiver_cpu_s": round(cpu, 3) if cpu is not None else None,
        "events_per_receiver_cpu_s": round(stats["events"] / cpu) if cpu else None,
        "senders_cpu_s": round(senders_cpu, 3),
        "statuses": statuses,
        "lag_ms": stats["lag_ms"],
    }


if __name__ == "__main__":
    sender_main(SenderJob(**json.loads(sys.argv[1])))
