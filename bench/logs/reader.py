"""Find and read audit logs: plain, rotated and gzipped JSON lines, webhook captures, EventLists.

Two ways in, for two jobs:
- ``line_relation_sql`` gives DuckDB SQL yielding one row per event (``line`` = the
  event's JSON text, ``nbytes`` = its serialized size incl. newline), for fast scans.
- ``iter_events`` yields (event dict, nbytes) in file order, for exact per-event work
  (what-if, attribution, detection post-checks).

Sizes: for a log file ``nbytes`` is the real line length plus its newline. Webhook
captures and EventList documents carry events inside a batch, so there ``nbytes`` is
the size of the event written as one compact JSON line with Go's escaping, i.e. what
the log backend would have written for it.
"""

from __future__ import annotations

import enum
import gzip
import io
import json
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from bench.errors import InputError

WEBHOOK_SUFFIX = ".webhook.jsonl"
# Suffixes taken from a directory argument (rotated backups: audit-2026-02-22T10-15-30.123.log[.gz]).
_DIR_SUFFIXES = (".log", ".log.gz", ".gz", ".jsonl", ".json")
# The largest single line read (a RequestResponse list of many objects can be tens of MB).
MAX_LINE_BYTES = 256 << 20
_SMALL_LINE_BYTES = 16 << 20
_SNIFF_BYTES = 64 << 10


class SourceKind(str, enum.Enum):
    LOG = "log"  # JSON lines, one audit.k8s.io/v1 Event per line (the log backend)
    WEBHOOK = "webhook"  # {"received_at", "bytes", "events": [...]} per line (our receiver)
    DOCUMENT = "document"  # one JSON document: an EventList, a list of events or one Event


@dataclass(frozen=True)
class Source:
    path: Path
    kind: SourceKind
    compressed: bool
    file_bytes: int


# What reading a damaged file raises: a truncated gzip ends in EOFError, a corrupt one in
# BadGzipFile (an OSError) or zlib.error.
_READ_ERRORS = (OSError, EOFError, zlib.error)


def _unreadable(path: Path, exc: BaseException, line: int | None = None) -> InputError:
    """One line naming the file (and the line reached) for a file that cannot be read."""
    if isinstance(exc, EOFError):
        reason = "truncated: the compressed file ends before its end-of-stream marker"
    elif isinstance(exc, OSError) and exc.strerror:
        reason = f"cannot read: {exc.strerror}"
    else:
        reason = f"cannot read: {exc}"
    return InputError(path, f"after line {line}" if line else None, reason)


def _open_binary(path: Path, compressed: bool) -> IO[bytes]:
    return gzip.open(path, "rb") if compressed else open(path, "rb")


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def classify(path: str | Path) -> Source:
    """Decide what kind of audit file ``path`` is, from its name and first line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, None, "no such file")
    try:
        compressed = _is_gzip(path)
        size = path.stat().st_size
    except OSError as exc:
        raise _unreadable(path, exc) from None
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    if name.endswith(WEBHOOK_SUFFIX):
        return Source(path, SourceKind.WEBHOOK, compressed, size)
    try:
        with _open_binary(path, compressed) as fh:
            head = fh.read(_SNIFF_BYTES)
    except _READ_ERRORS as exc:
        raise _unreadable(path, exc) from None
    return Source(path, _sniff(path, head), compressed, size)


def _sniff(path: Path, head: bytes) -> SourceKind:
    text = head.lstrip()
    if not text:
        return SourceKind.LOG  # empty file: zero events
    if text[:1] == b"[":
        return SourceKind.DOCUMENT
    if text[:1] != b"{":
        raise InputError(path, "line 1", "not JSON: an audit log holds one JSON object per line")
    first, newline, _ = text.partition(b"\n")
    if not newline and len(head) >= _SNIFF_BYTES:
        # A first line longer than the sniff window: only a log line gets that long.
        return SourceKind.WEBHOOK if first.startswith(b'{"received_at"') else SourceKind.LOG
    try:
        doc = json.loads(first)
    except ValueError:
        return SourceKind.DOCUMENT  # a pretty-printed document spans lines
    if isinstance(doc, dict) and isinstance(doc.get("events"), list) and "received_at" in doc:
        return SourceKind.WEBHOOK
    if isinstance(doc, dict) and (doc.get("kind") == "EventList" or isinstance(doc.get("items"), list)):
        return SourceKind.DOCUMENT
    return SourceKind.LOG


def expand(paths: Iterable[str | Path]) -> list[Source]:
    """Files and directories (their audit files, sorted by name) to classified sources."""
    out: list[Source] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files = sorted(f for f in p.iterdir() if f.is_file() and f.name.endswith(_DIR_SUFFIXES))
            if not files:
                raise InputError(p, None, "directory holds no audit files (*.log, *.log.gz, *.jsonl, *.json)")
            out.extend(classify(f) for f in files)
        else:
            out.append(classify(p))
    if not out:
        raise InputError(None, "FILE", "no input files given")
    return out


# --- DuckDB ---------------------------------------------------------------------------


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _sql_list(paths: Iterable[Path]) -> str:
    return "[" + ", ".join(_sql_str(str(p)) for p in paths) + "]"


# Lines of only blanks are skipped, as jq does. The filter halves the scan speed, so it
# is only added when a first try met JSON it could not parse.
_BLANK_FILTER = " AND NOT (ascii(line) IN (9, 32) AND trim(line, E' \\t') = '')"


def _log_sql(sources: list[Source], big_lines: bool, tolerant: bool) -> str:
    # A log file read as CSV with one column and a delimiter JSON text cannot hold
    # (raw control characters are escaped in JSON): DuckDB splits lines in parallel
    # at GB/s and gives each line's exact length. Its buffer must exceed the longest
    # line, and a big buffer halves the speed, so the big one is only the retry.
    max_line, buffer = (MAX_LINE_BYTES, 2 * MAX_LINE_BYTES) if big_lines else (_SMALL_LINE_BYTES, 2 * _SMALL_LINE_BYTES)
    return (
        f"SELECT line, strlen(line) + 1 AS nbytes FROM read_csv({_sql_list(s.path for s in sources)}, "
        "columns={'line': 'VARCHAR'}, delim=E'\\x01', quote='', escape='', header=false, "
        f"auto_detect=false, compression='auto', max_line_size={max_line}, buffer_size={buffer}) "
        "WHERE line IS NOT NULL AND line <> ''" + _BLANK_FILTER * tolerant
    )


def _webhook_sql(sources: list[Source]) -> str:
    # DuckDB writes each event back as compact JSON but, unlike Go, leaves <, > and &
    # (6 bytes each as \u003c...) and U+2028/U+2029 (6 bytes instead of 3) unescaped:
    # add the difference so sizes are those the apiserver's encoder produces.
    go_extra = (
        "5 * (strlen(line) - strlen(regexp_replace(line, '[<>&]', '', 'g'))) "
        "+ (strlen(line) - strlen(regexp_replace(line, '[\u2028\u2029]', '', 'g')))"
    )
    return (
        f"SELECT line, strlen(line) + 1 + {go_extra} AS nbytes FROM (SELECT ev::VARCHAR AS line FROM ("
        f"SELECT unnest(events) AS ev FROM read_ndjson({_sql_list(s.path for s in sources)}, "
        "columns={'received_at': 'DOUBLE', 'bytes': 'BIGINT', 'events': 'JSON[]'}, "
        f"compression='auto', maximum_object_size={MAX_LINE_BYTES})))"
    )


def line_relation_sql(
    sources: list[Source], document_table: str | None = None, big_lines: bool = False, tolerant: bool = False
) -> str:
    """SQL with columns (line VARCHAR, nbytes BIGINT), one row per event, in file order.

    DOCUMENT sources are small and parsed in Python: load them first with
    ``load_documents`` into ``document_table``.
    """
    parts: list[str] = []
    logs = [s for s in sources if s.kind is SourceKind.LOG]
    hooks = [s for s in sources if s.kind is SourceKind.WEBHOOK]
    if logs:
        parts.append(_log_sql(logs, big_lines, tolerant))
    if hooks:
        parts.append(_webhook_sql(hooks))
    if document_table and any(s.kind is SourceKind.DOCUMENT for s in sources):
        parts.append(f"SELECT line, nbytes FROM {document_table}")
    if not parts:
        return "SELECT NULL::VARCHAR AS line, NULL::BIGINT AS nbytes WHERE false"
    return " UNION ALL ".join(f"({p})" for p in parts)


def load_documents(con: Any, sources: list[Source], table: str) -> None:
    """Parse DOCUMENT sources in Python into a DuckDB temp table (line, nbytes)."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE {table} (line VARCHAR, nbytes BIGINT)")
    rows: list[tuple[str, int]] = []
    for s in sources:
        if s.kind is SourceKind.DOCUMENT:
            for ev in _document_events(s):
                line = compact(ev)
                rows.append((line, len(line.encode("utf-8")) + 1))
    if rows:
        con.executemany(f"INSERT INTO {table} VALUES (?, ?)", rows)


def batch_stats(con: Any, sources: list[Source]) -> dict[str, int] | None:
    """Batches and bytes the webhook receiver got, or None without captures."""
    hooks = [s for s in sources if s.kind is SourceKind.WEBHOOK]
    if not hooks:
        return None
    batches, received = con.execute(
        f"SELECT count(*), coalesce(sum(bytes), 0) FROM read_ndjson({_sql_list(s.path for s in hooks)}, "
        "columns={'received_at': 'DOUBLE', 'bytes': 'BIGINT'}, "
        f"compression='auto', maximum_object_size={MAX_LINE_BYTES})"
    ).fetchone()
    return {"batches": int(batches), "received_bytes": int(received)}


# --- Python ---------------------------------------------------------------------------


def compact(obj: Any) -> str:
    """One event as the apiserver's log backend would write it (Go's encoder)."""
    from bench.logs.gojson import go_dumps

    return go_dumps(obj)


def _document_events(source: Source) -> list[dict[str, Any]]:
    try:
        with _open_binary(source.path, source.compressed) as fh:
            doc = json.load(io.TextIOWrapper(fh, encoding="utf-8"))
    except ValueError as exc:  # UnicodeDecodeError included
        raise InputError(source.path, None, f"not a JSON document: {exc}") from None
    except _READ_ERRORS as exc:
        raise _unreadable(source.path, exc) from None
    if isinstance(doc, dict) and isinstance(doc.get("items"), list):
        items = doc["items"]
    elif isinstance(doc, list):
        items = doc
    elif isinstance(doc, dict):
        items = [doc]
    else:
        raise InputError(source.path, None, "expected an EventList, a list of events or one Event")
    for i, ev in enumerate(items):
        if not isinstance(ev, dict):
            raise InputError(source.path, f"items[{i}]", "an audit event must be a JSON object")
    return items


def iter_lines(source: Source) -> Iterator[tuple[int, bytes]]:
    """(line number, raw line without newline) of a LOG or WEBHOOK file, blank lines skipped."""
    n = 0
    try:
        with _open_binary(source.path, source.compressed) as fh:
            for n, raw in enumerate(fh, 1):
                line = raw.rstrip(b"\r\n")
                if line.strip():
                    yield n, line
    except _READ_ERRORS as exc:
        raise _unreadable(source.path, exc, n) from None


def iter_events(sources: Iterable[Source]) -> Iterator[tuple[dict[str, Any], int]]:
    """(event, nbytes) for every event of every source, in order."""
    for s in sources:
        if s.kind is SourceKind.DOCUMENT:
            for ev in _document_events(s):
                yield ev, len(compact(ev).encode("utf-8")) + 1
            continue
        for n, line in iter_lines(s):
            doc = _parse_line(s, n, line)
            if s.kind is SourceKind.LOG:
                yield doc, len(line) + 1
                continue
            events = doc.get("events")
            if not isinstance(events, list):
                raise InputError(s.path, f"line {n}: events", "a webhook capture line needs an events list")
            for ev in events:
                yield ev, len(compact(ev).encode("utf-8")) + 1


def _parse_line(source: Source, n: int, line: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(line)
    except ValueError as exc:
        raise InputError(source.path, f"line {n}", f"not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise InputError(source.path, f"line {n}", "an audit event must be a JSON object")
    return doc


def first_bad_line(source: Source) -> str | None:
    """Where a LOG/WEBHOOK file stops being JSON lines (to explain a DuckDB failure)."""
    if source.kind is SourceKind.DOCUMENT:
        return None
    try:
        for n, line in iter_lines(source):
            try:
                json.loads(line)
            except ValueError as exc:
                return f"line {n}: not valid JSON ({exc})"
    except InputError as exc:
        return exc.line().removeprefix(f"{source.path}: ")
    return None


# --- the log backend's files ------------------------------------------------------------
def log_files(live: Path) -> list[Path]:
    """The live log and its rotated backups (lumberjack names them ``<stem>-<timestamp><ext>``,
    plus ``.gz`` with --audit-log-compress), oldest first, the live file last."""
    live = Path(live)
    backups = sorted(p for p in live.parent.glob(f"{live.stem}-*{live.suffix}*") if p != live)
    return backups + ([live] if live.exists() else [])


def log_events(live: Path) -> Iterator[dict[str, Any]]:
    """Every event of a log backend's files (live + rotated), oldest first."""
    files = log_files(live)
    if files:
        for event, _ in iter_events(expand(files)):
            yield event
