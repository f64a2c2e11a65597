"""The few fields of each audit event that windowed accounting needs, decoded fast.

msgspec decodes only the declared fields and skips the rest (request and response bodies
included) without building Python objects for them, so a RequestResponse log is read at
hundreds of MB/s. Files are found and opened by bench.logs.reader, the one reader that
`auditbench logs` and the measurements share; resource keys are the same as `logs scan`'s.

- :func:`log_heads`: (head, nbytes) per event of log files (nbytes: line + newline);
- :func:`capture_batches`: per webhook batch its arrival, bytes and event heads.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec

from bench.agents import origin
from bench.errors import InputError
from bench.logs import reader
from bench.logs.reader import Source, SourceKind
from bench.webhook.stats import TimestampParser


class ObjectRef(msgspec.Struct):
    resource: str = ""
    subresource: str = ""
    apiGroup: str = ""


class User(msgspec.Struct):
    username: str = ""


class Head(msgspec.Struct):
    level: str = ""
    stage: str = ""
    verb: str = ""
    requestURI: str = ""
    user: User = msgspec.field(default_factory=User)
    userAgent: str = ""
    objectRef: ObjectRef | None = None
    requestReceivedTimestamp: str = ""
    stageTimestamp: str = ""


class _Batch(msgspec.Struct):
    received_at: float
    bytes: int = 0
    events: list[Head] = []


_HEAD = msgspec.json.Decoder(Head)
_BATCH = msgspec.json.Decoder(_Batch)


def resource_key(head: Head) -> str:
    """``pods``, ``pods/exec``, ``deployments.apps/scale``; non-resource requests by path
    (as bench.logs.scan.resource_key_sql)."""
    ref = head.objectRef
    if ref is None or not ref.resource:
        return head.requestURI.split("?", 1)[0] or "(none)"
    key = ref.resource + (f".{ref.apiGroup}" if ref.apiGroup else "")
    return key + (f"/{ref.subresource}" if ref.subresource else "")


@dataclass(frozen=True)
class Row:
    """One event, reduced to what windowed figures group and filter by."""

    received: float  # requestReceivedTimestamp, unix s (nan if absent)
    staged: float  # stageTimestamp, unix s: when the apiserver processed the event
    level: str
    stage: str
    verb: str
    resource: str
    username: str
    origin: str  # bench.agents: traffic | harness | background
    nbytes: int


class RowMaker:
    """Head -> Row with a shared timestamp cache (events of one second share its prefix)."""

    def __init__(self) -> None:
        self._ts = TimestampParser()

    def __call__(self, head: Head, nbytes: int) -> Row:
        nan = float("nan")
        received = self._ts(head.requestReceivedTimestamp) if head.requestReceivedTimestamp else None
        staged = self._ts(head.stageTimestamp) if head.stageTimestamp else None
        return Row(nan if received is None else received, nan if staged is None else staged, head.level,
                   head.stage, head.verb, resource_key(head), head.user.username, origin(head.userAgent), nbytes)


def log_rows(paths: Iterable[Path], damaged: list[str] | None = None) -> Iterator[Row]:
    """Rows of the events in log files (plain, rotated, .gz), in file order.

    A line that is not an event is an error, unless ``damaged`` is given: then it is noted
    there ("file: line N") and skipped. The apiserver's own log may hold such a line: an
    event whose write failed part way (a full disk, a kill) and that it counted as an error."""
    make = RowMaker()
    for source in reader.expand(paths) if paths else []:
        if source.kind is not SourceKind.LOG:
            raise InputError(source.path, None, "expected an audit log file (JSON lines)")
        for n, line in reader.iter_lines(source):
            try:
                head = _HEAD.decode(line)
            except msgspec.DecodeError as exc:
                if damaged is None:
                    raise InputError(source.path, f"line {n}", f"not an audit event: {exc}") from None
                damaged.append(f"{source.path.name}: line {n}")
                continue
            yield make(head, len(line) + 1)


@dataclass(frozen=True)
class Batch:
    received_at: float
    bytes: int
    rows: list[Row]


def capture_batches(path: Path) -> Iterator[Batch]:
    """Batches of a webhook capture (bench.webhook.server's format), in arrival order.

    Event sizes are the batch's bytes shared out by event count: the per-event sizes that
    matter for volume come from the log backend; here batches, events and lag do.
    """
    make = RowMaker()
    source: Source = reader.classify(path)
    for n, line in reader.iter_lines(source):
        try:
            batch = _BATCH.decode(line)
        except msgspec.DecodeError as exc:
            raise InputError(path, f"line {n}", f"not a webhook capture line: {exc}") from None
        share = batch.bytes // max(1, len(batch.events))
        yield Batch(batch.received_at, batch.bytes, [make(h, share) for h in batch.events])
