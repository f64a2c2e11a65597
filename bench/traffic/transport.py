"""Samples and canaries from Locust workers to the master over Locust's own message channel.

The pure half (no locust or gevent import; the Locust glue is bench.traffic.distributed):

* a worker asks the master for the run's traffic config (MSG_CONFIG, with the run's join key)
  and gets it with the cluster CA and identities inline and its own process index;
* a worker's Outbox buffers its sample rows and ships them in bounded chunks (MSG_SAMPLES),
  sends every canary as soon as it is made (MSG_CANARIES), reports its running counts a few
  times a second (MSG_PROGRESS) and ends with its own tally (MSG_DONE);
* the master's Collector writes each worker's rows with the SampleWriter a single process uses,
  so the launcher merges them exactly as in single-process mode; it checks every worker's rows
  against that worker's tally (count, counts per class, digest) and reports a worker that
  disappeared with how many samples it had recorded but never delivered.

Canary values are secrets: they go only into the 0600 canary file, never into a log line.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.atomic import write_json
from bench.traffic.canary import new_canary
from bench.traffic.recorder import SampleWriter, Tally, format_row

LOOPBACK = "127.0.0.1"  # where a master binds unless told otherwise

MSG_CONFIG = "ab_config"
MSG_SAMPLES = "ab_samples"
MSG_CANARIES = "ab_canaries"
MSG_PROGRESS = "ab_progress"
MSG_DONE = "ab_done"
CHUNK_ROWS = 2000  # bounds one message to ~100 KB of msgpack
FLUSH_INTERVAL_S = 1.0  # a partial chunk waits at most this long
PROGRESS_INTERVAL_S = 0.25  # how stale a lost worker's last count can be
# Config keys that name files on the master only; workers get the contents instead.
_MASTER_ONLY = ("samples_dir", "canary_path", "join_key", "ca_file", "identities_file")

Send = Callable[[str, dict[str, Any]], None]


class ConfigError(Exception):
    """The master refused a worker's config request (the message says why; no secret in it)."""


def config_request(join_key: str) -> dict[str, Any]:
    return {"join_key": join_key}


def config_for_worker(config: dict[str, Any], proc: int) -> dict[str, Any]:
    """What a worker needs to run the traffic: the config plus CA and identities inline."""
    doc = {k: v for k, v in config.items() if k not in _MASTER_ONLY}
    doc.update(proc=proc, ca_pem=Path(config["ca_file"]).read_text(),
               identities=Path(config["identities_file"]).read_text(), master_time=time.time())
    return doc


def install_worker_config(reply: dict[str, Any], work_dir: Path, server: str | None = None) -> dict[str, Any]:
    """Write the CA and identities a worker received (0600) and return its config."""
    if "error" in reply:
        raise ConfigError(reply["error"])
    work_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    config = {k: v for k, v in reply.items() if k not in ("ca_pem", "identities")}
    for key, name, text in (("ca_file", "ca.crt", reply["ca_pem"]), ("identities_file", "identities.json", reply["identities"])):
        path = work_dir / name
        path.touch(mode=0o600)
        path.chmod(0o600)
        path.write_text(text)
        config[key] = str(path)
    if server:  # the apiserver as this host reaches it (still refused unless loopback)
        config["server"] = server
    config["clock_offset_s"] = time.time() - float(reply["master_time"])
    return config


class Outbox:
    """Worker side: the SampleWriter interface, shipping rows over the channel instead of a file."""

    def __init__(self, proc: int, send: Send, chunk_rows: int = CHUNK_ROWS) -> None:
        self.proc, self._send, self._chunk_rows = proc, send, chunk_rows
        self._rows: list[tuple[float, str, str, float, int, int, bool, float]] = []
        self.tally = Tally()
        self.seq = 0
        self.shipped = 0
        self.closed = False

    @property
    def count(self) -> int:
        return self.tally.count

    def add(self, t: float, cls: str, method: str, ms: float, status: int, nbytes: int, ok: bool,
            lag_ms: float = 0.0) -> None:
        if self.closed:
            return
        self._rows.append((t, cls, method, ms, status, nbytes, ok, lag_ms))
        self.tally.add(format_row(t, cls, method, ms, status, nbytes, ok, lag_ms))
        if len(self._rows) >= self._chunk_rows:
            self.flush()

    def flush(self) -> None:
        if not self._rows:
            return
        rows, self._rows = self._rows, []
        self.seq += 1
        self.shipped += len(rows)
        # msgpack carries the floats as float64: the master formats exactly what was measured.
        self._send(MSG_SAMPLES, {"proc": self.proc, "seq": self.seq, "rows": [list(r) for r in rows],
                                 "upto": self.shipped})

    def close(self) -> None:
        self.flush()
        self.closed = True


class ChannelCanaries:
    """Worker side: the CanaryFile interface; each canary is sent before a request carries it."""

    def __init__(self, proc: int, send: Send) -> None:
        self.proc, self._send = proc, send
        self.count = 0

    def record(self, *values: str) -> None:
        self.count += len(values)
        self._send(MSG_CANARIES, {"proc": self.proc, "values": list(values), "upto": self.count})

    def new(self, count: int) -> list[str]:
        values = [new_canary() for _ in range(count)]
        self.record(*values)
        return values

    def close(self) -> None:
        pass


@dataclass
class WorkerLedger:
    """Master side: what one worker (by process index) reported and what actually arrived."""

    proc: int
    writer: SampleWriter
    node_id: str | None = None
    received: Tally = field(default_factory=Tally)
    seqs: set[int] = field(default_factory=set)
    duplicates: int = 0
    reported: int = 0  # the worker's own running count of recorded samples
    canaries_received: int = 0
    canaries_reported: int = 0
    progress: dict[str, Any] = field(default_factory=dict)
    last_heard: float = 0.0  # master clock
    done: dict[str, Any] | None = None
    lost_at: float | None = None  # master clock, when Locust no longer had the worker


class Collector:
    """Master side: assigns process indexes, writes each worker's samples and canaries, and
    writes one proc-<index>.json per worker for the launcher (as single-process mode does)."""

    def __init__(self, config: dict[str, Any], canaries: Any, expected: int,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.samples_dir = Path(config["samples_dir"])
        self.canaries = canaries  # a CanaryFile
        self.expected = expected
        self.clock = clock
        self.workers: dict[int, WorkerLedger] = {}
        self.assigned: dict[str, int] = {}  # requesting client id -> process index
        self.refused = 0
        self.finished = False

    # -- messages -------------------------------------------------------------------------

    def on_config(self, requester: str, data: dict[str, Any]) -> dict[str, Any]:
        if not hmac.compare_digest(str(data.get("join_key", "")), str(self.config["join_key"])):
            self.refused += 1
            return {"error": "wrong join key for this run (see the master's output or AUDITBENCH_JOIN_KEY)"}
        if self.finished:
            return {"error": "this run has ended"}
        proc = self.assigned.get(requester)  # a repeated request (the reply was slow) keeps its index
        if proc is None:
            proc = self.assigned[requester] = len(self.workers) + 1  # 0 is the single-process index
            tally = Tally()  # what arrived, counted as the writer formats it
            self.workers[proc] = WorkerLedger(proc, SampleWriter(self.samples_dir / f"samples-{proc}.csv", tally=tally),
                                              received=tally)
        return config_for_worker(self.config, proc)

    def _ledger(self, node_id: str, data: dict[str, Any]) -> WorkerLedger | None:
        ledger = self.workers.get(int(data.get("proc", -1)))
        if ledger is None or self.finished:
            return None
        ledger.node_id = ledger.node_id or node_id
        ledger.last_heard = self.clock()
        return ledger

    def on_samples(self, node_id: str, data: dict[str, Any]) -> None:
        ledger = self._ledger(node_id, data)
        if ledger is None:
            return
        if data["seq"] in ledger.seqs:  # a resent chunk must not count twice
            ledger.duplicates += 1
            return
        ledger.seqs.add(data["seq"])
        for t, cls, method, ms, status, nbytes, ok, lag_ms in data["rows"]:
            ledger.writer.add(t, cls, method, ms, status, nbytes, ok, lag_ms)
        ledger.writer.flush()  # on disk as it arrives: a master that dies keeps what it had
        ledger.reported = max(ledger.reported, int(data["upto"]))

    def on_canaries(self, node_id: str, data: dict[str, Any]) -> None:
        ledger = self._ledger(node_id, data)
        if ledger is None:
            return
        self.canaries.record(*data["values"])
        ledger.canaries_received += len(data["values"])
        ledger.canaries_reported = max(ledger.canaries_reported, int(data["upto"]))

    def on_progress(self, node_id: str, data: dict[str, Any]) -> None:
        ledger = self._ledger(node_id, data)
        if ledger is None:
            return
        if not ledger.progress and "record_from" in data:
            # the window edges of this worker, for bench.traffic.launcher.EdgeTimer (as a
            # single process writes them itself)
            write_json(self.samples_dir / f"window-{ledger.proc}.json",
                       {"proc": ledger.proc, "record_from": data["record_from"], "record_to": data["record_to"]})
        ledger.progress = data
        ledger.reported = max(ledger.reported, int(data["recorded"]))
        ledger.canaries_reported = max(ledger.canaries_reported, int(data["canaries"]))

    def on_done(self, node_id: str, data: dict[str, Any]) -> None:
        ledger = self._ledger(node_id, data)
        if ledger is None:
            return
        ledger.done = data
        ledger.reported = max(ledger.reported, int(data["recorded"]))

    # -- the end of the run -----------------------------------------------------------------

    def accounted(self, alive: Callable[[str], bool]) -> bool:
        """True once every expected worker has finished its window or is gone (Locust's view)."""
        now = self.clock()
        for ledger in self.workers.values():
            if ledger.done is None and ledger.lost_at is None and ledger.node_id and not alive(ledger.node_id):
                ledger.lost_at = now
        if len(self.workers) < self.expected:
            return False
        return all(w.done is not None or w.lost_at is not None for w in self.workers.values())

    def finish(self) -> dict[str, Any]:
        """Close the files and write proc-<index>.json per worker and transport.json; idempotent."""
        if not self.finished:
            self.finished = True
            now = self.clock()
            for ledger in self.workers.values():
                ledger.writer.close()
                if ledger.done is None and ledger.lost_at is None:
                    ledger.lost_at = now  # never finished before the master stopped
                write_json(self.samples_dir / f"proc-{ledger.proc}.json", self._proc_doc(ledger))
            write_json(self.samples_dir / "transport.json", self.summary())
        return self.summary()

    def summary(self) -> dict[str, Any]:
        return {"expected": self.expected, "refused_config_requests": self.refused,
                "workers": [self._transport(w) for w in sorted(self.workers.values(), key=lambda w: w.proc)]}

    def _transport(self, w: WorkerLedger) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "proc": w.proc, "host": (w.done or w.progress).get("host"), "pid": (w.done or w.progress).get("pid"),
            "received": w.received.count, "reported": w.reported, "duplicate_chunks": w.duplicates,
            "canaries_received": w.canaries_received, "canaries_reported": w.canaries_reported,
            "state": "done" if w.done is not None else "lost",
        }
        if w.done is not None:
            sent = w.done["tally"]
            got = w.received.as_dict()
            # Users may still plan (and make canaries) after the window: each canary message
            # carries the worker's running count, so every one sent must have arrived.
            canaries_ok = w.canaries_received == w.canaries_reported >= int(w.done.get("canaries", 0))
            doc["verified"] = sent == got and canaries_ok
            if not doc["verified"]:
                doc["mismatch"] = {"sent": {**sent, "canaries": w.canaries_reported},
                                   "received": {**got, "canaries": w.canaries_received}}
        else:
            doc["lost_samples_at_least"] = max(0, w.reported - w.received.count)
            doc["lost_canaries_at_least"] = max(0, w.canaries_reported - w.canaries_received)
            # Requests made after this last report are unknowable: the worker died with them.
            doc["last_heard_s_before_loss"] = round((w.lost_at or 0.0) - w.last_heard, 3) if w.last_heard else None
            doc["connected"] = w.node_id is not None
        return doc

    def _proc_doc(self, w: WorkerLedger) -> dict[str, Any]:
        """The launcher's per-process record, in the single-process shape."""
        src = w.done if w.done is not None else w.progress
        doc = {k: src.get(k) for k in ("proc", "pid", "host", "users", "started_at", "record_from", "failures",
                                        "warmup", "after_window", "target_rps", "late_slots", "max_lateness_s",
                                        "cpu_s", "clock_offset_s")}
        doc.update(proc=w.proc, recorded=w.received.count, samples=f"samples-{w.proc}.csv",
                   record_to=src.get("record_to") if w.done is not None else src.get("now"),
                   transport=self._transport(w))
        for key in ("warmup", "late_slots", "after_window", "failures"):
            doc[key] = doc[key] or 0
        return doc


def dumps(doc: dict[str, Any]) -> str:
    """One summary line a worker prints (counts only: never a canary)."""
    return json.dumps(doc, sort_keys=True)
