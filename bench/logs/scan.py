"""Events and bytes of audit files by level, stage, verb, resource and user kind.

One DuckDB pass pulls the few fields a summary needs into a narrow temp table; the
summaries are then group-bys over that table. Speed comes from not parsing bodies:
the apiserver writes an Event's fields in Go struct order, so everything a scan
needs (level, stage, verb, user, objectRef) comes before ``responseStatus`` and the
request/response bodies. For such lines only that prefix is parsed; any line the
cut does not fit falls back to a full parse, so answers never depend on the cut.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.logs import query, reader
from bench.logs.reader import Source

# Order of the paths matters: fields() below indexes into this list.
_PATHS = [
    "$.level",
    "$.stage",
    "$.verb",
    "$.user.username",
    "$.objectRef.resource",
    "$.objectRef.subresource",
    "$.objectRef.apiGroup",
    "$.objectRef.namespace",
    "$.objectRef.name",
    "$.requestURI",
]
GO_EVENT_PREFIX = '{"kind":"Event","apiVersion":"audit.k8s.io/v1",'
DIMENSIONS = ("level", "stage", "verb", "resource", "user_kind")


def _paths_sql(paths: Sequence[str]) -> str:
    return "[" + ", ".join(f"'{p}'" for p in paths) + "]"


def extract_sql(relation: str, paths: Sequence[str], fast: bool = True) -> str:
    """SQL yielding (v VARCHAR[], nbytes): the string values at ``paths`` of each event.

    ``fast`` parses only the part of a Go-ordered line before ``responseStatus``;
    use it only for paths that come before responseStatus in audit.Event.
    """
    ps = _paths_sql(paths)
    if not fast:
        return f"SELECT json_extract_string(line, {ps}) AS v, nbytes FROM ({relation})"
    return (
        f"SELECT json_extract_string(CASE WHEN p > 0 THEN left(line, p - 1) || '}}' ELSE line END, {ps}) AS v, nbytes "
        f"FROM (SELECT line, nbytes, CASE WHEN starts_with(line, '{GO_EVENT_PREFIX}') "
        f"""THEN strpos(line, ',"responseStatus":') ELSE 0 END AS p FROM ({relation}))"""
    )


def user_kind_sql(username: str) -> str:
    return (
        f"CASE WHEN {username} IS NULL THEN 'unknown' "
        f"WHEN starts_with({username}, 'system:serviceaccount:') THEN 'service account' "
        f"WHEN starts_with({username}, 'system:') THEN 'system' ELSE 'human' END"
    )


def resource_key_sql(resource: str, sub: str, group: str, uri: str) -> str:
    """``pods``, ``pods/exec``, ``deployments.apps/scale``; non-resource requests by path."""
    return (
        f"CASE WHEN {resource} IS NULL OR {resource} = '' THEN coalesce(split_part({uri}, '?', 1), '(none)') "
        f"ELSE {resource} || coalesce('.' || nullif({group}, ''), '') || coalesce('/' || nullif({sub}, ''), '') END"
    )


def _table_sql(relation: str, fast: bool) -> str:
    rkey = resource_key_sql("v[5]", "v[6]", "v[7]", "v[10]")
    okey = f"{rkey} || CASE WHEN v[5] IS NULL OR v[5] = '' THEN '' ELSE ' ' || coalesce(nullif(v[8], '') || '/', '') || coalesce(nullif(v[9], ''), '*') END"
    return (
        "CREATE OR REPLACE TEMP TABLE scan_events AS SELECT "
        "coalesce(v[1], '(none)') AS level, coalesce(v[2], '(none)') AS stage, coalesce(v[3], '(none)') AS verb, "
        f"coalesce(v[4], '(none)') AS username, {user_kind_sql('v[4]')} AS user_kind, "
        f"{rkey} AS resource, {okey} AS object, nbytes "
        f"FROM ({extract_sql(relation, _PATHS, fast)})"
    )


@dataclass(frozen=True)
class Row:
    key: str
    events: int
    bytes: int


@dataclass
class ScanResult:
    files: list[dict[str, Any]]
    events: int
    bytes: int
    by: dict[str, list[Row]] = field(default_factory=dict)
    top_users: list[Row] = field(default_factory=list)
    top_resources: list[Row] = field(default_factory=list)
    webhook: dict[str, int] | None = None

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["by"] = {k: [asdict(r) for r in rows] for k, rows in self.by.items()}
        return doc


def _group(con: query.Connection, column: str, limit: int | None = None) -> list[Row]:
    lim = f" LIMIT {int(limit)}" if limit else ""
    rows = con.execute(
        f"SELECT {column}, count(*), sum(nbytes) FROM scan_events GROUP BY 1 ORDER BY 3 DESC, 2 DESC, 1{lim}"
    ).fetchall()
    return [Row(str(k), int(e), int(b)) for k, e, b in rows]


def scan(sources: list[Source], top: int = 10, con: query.Connection | None = None) -> ScanResult:
    """Summarize ``sources``: totals, per-dimension breakdowns, top users and objects."""
    con = con or query.connect()
    query.run(con, sources, lambda rel: _table_sql(rel, True), safe_build=lambda rel: _table_sql(rel, False))
    events, nbytes = con.execute("SELECT count(*), coalesce(sum(nbytes), 0) FROM scan_events").fetchone()
    result = ScanResult(
        files=[{"path": str(s.path), "kind": s.kind.value, "compressed": s.compressed, "file_bytes": s.file_bytes} for s in sources],
        events=int(events),
        bytes=int(nbytes),
        webhook=reader.batch_stats(con, sources),
    )
    for dim in DIMENSIONS:
        result.by[dim] = _group(con, dim)
    result.top_users = _group(con, "username", top)
    result.top_resources = _group(con, "object", top)
    con.execute("DROP TABLE scan_events")
    return result
