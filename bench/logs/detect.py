"""The reference article's three jq detections, with jq's exact semantics, at DuckDB speed.

The article's expressions (run as ``jq 'select(...)' audit.log``):

- secrets: ``.objectRef.resource == "secrets" and .verb == "get" and
  (.user.username | startswith("system:serviceaccount:") | not)``
- cluster-admin bindings: ``.objectRef.resource == "clusterrolebindings" and
  .verb == "create" and .requestObject.roleRef.name == "cluster-admin"``
- exec in production: ``.objectRef.resource == "pods" and
  .objectRef.subresource == "exec" and .objectRef.namespace == "production"``

How: DuckDB keeps only lines that contain every string literal a match needs, in
its JSON-encoded form, then only those whose fields (DuckDB's JSON functions) meet
the expression; a line whose strings use ``\\u`` escapes is always kept, as it could
spell a literal differently. Each kept line is then parsed in Python and judged
with jq's rules: a field of null is null, a field of a
non-object is an error, startswith on a non-string is an error, and an input whose
expression errors is not output (jq prints an error and goes on).

Limits: jq resolves a duplicate key to its last value, DuckDB to its first, so a line
with duplicate keys (the apiserver never writes one) may be judged differently. jq
stops at the first line that is not JSON; here only lines that could match are parsed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb

from bench.errors import InputError
from bench.logs import query
from bench.logs.reader import Source

_ERROR = object()  # a jq runtime error for this input


def jq_path(doc: Any, *keys: str) -> Any:
    """``.a.b.c`` with jq's rules: null propagates, indexing a non-object errors."""
    cur = doc
    for k in keys:
        if cur is None:
            return None
        if not isinstance(cur, dict):
            return _ERROR
        cur = cur.get(k)
    return cur


def _eq(value: Any, want: str) -> bool | object:
    return _ERROR if value is _ERROR else (isinstance(value, str) and value == want)


@dataclass(frozen=True)
class Detection:
    name: str
    title: str
    jq: str  # the article's expression, inside select(...)
    needles: tuple[str, ...]  # literals every match contains, as they appear in JSON text
    sql: str  # a DuckDB condition every match meets, on fields written as _X(path)
    predicate: Callable[[Any], bool]  # jq's semantics, the final word


def _all_true(*checks: Callable[[], bool | object]) -> bool:
    # jq's `and`: left to right, stop at the first false; an error anywhere is no output.
    for check in checks:
        r = check()
        if r is _ERROR or r is not True:
            return False
    return True


def _not_service_account(doc: Any) -> bool | object:
    name = jq_path(doc, "user", "username")
    if not isinstance(name, str):
        return _ERROR  # startswith() requires string inputs
    return not name.startswith("system:serviceaccount:")


_FIELD = re.compile(r"@@([A-Za-z.]+)@@")


def _X(path: str) -> str:
    """A field in a detection's SQL; _candidate_sql extracts all fields in one parse."""
    return f"@@{path}@@"


def detections(production_namespace: str = "production") -> list[Detection]:
    ns = production_namespace
    return [
        Detection(
            "secrets-read-by-non-serviceaccount",
            "Secrets read by users that are not service accounts",
            '.objectRef.resource == "secrets" and .verb == "get" and '
            '(.user.username | startswith("system:serviceaccount:") | not)',
            ('secrets"', '"secrets"', '"get"'),
            f"{_X('objectRef.resource')} = 'secrets' AND {_X('verb')} = 'get' "
            f"AND NOT starts_with(coalesce({_X('user.username')}, ''), 'system:serviceaccount:')",
            lambda d: _all_true(
                lambda: _eq(jq_path(d, "objectRef", "resource"), "secrets"),
                lambda: _eq(jq_path(d, "verb"), "get"),
                lambda: _not_service_account(d),
            ),
        ),
        Detection(
            "clusterrolebinding-to-cluster-admin",
            "ClusterRoleBindings created to cluster-admin",
            '.objectRef.resource == "clusterrolebindings" and .verb == "create" and '
            '.requestObject.roleRef.name == "cluster-admin"',
            ('bindings', '"clusterrolebindings"', '"create"', '"cluster-admin"'),
            f"{_X('objectRef.resource')} = 'clusterrolebindings' AND {_X('verb')} = 'create' "
            f"AND {_X('requestObject.roleRef.name')} = 'cluster-admin'",
            lambda d: _all_true(
                lambda: _eq(jq_path(d, "objectRef", "resource"), "clusterrolebindings"),
                lambda: _eq(jq_path(d, "verb"), "create"),
                lambda: _eq(jq_path(d, "requestObject", "roleRef", "name"), "cluster-admin"),
            ),
        ),
        Detection(
            "exec-in-production",
            f"Exec into pods in namespace {ns}",
            '.objectRef.resource == "pods" and .objectRef.subresource == "exec" and '
            f".objectRef.namespace == {json.dumps(ns)}",
            ('xec"', '"exec"', '"pods"', json.dumps(ns, ensure_ascii=False)),
            f"{_X('objectRef.resource')} = 'pods' AND {_X('objectRef.subresource')} = 'exec' "
            f"AND {_X('objectRef.namespace')} = {_sql_literal(ns)}",
            lambda d: _all_true(
                lambda: _eq(jq_path(d, "objectRef", "resource"), "pods"),
                lambda: _eq(jq_path(d, "objectRef", "subresource"), "exec"),
                lambda: _eq(jq_path(d, "objectRef", "namespace"), ns),
            ),
        ),
    ]


@dataclass
class Finding:
    detection: Detection
    events: list[dict[str, Any]] = field(default_factory=list)


def _sql_literal(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _candidate_sql(relation: str, dets: Sequence[Detection]) -> str:
    # One pass for all detections. Substring tests first, then one JSON parse per
    # surviving line for all fields at once. Each detection's first needle is short and
    # starts with a rare character: DuckDB searches such needles fastest (one starting
    # with '"', the commonest character in JSON, is twice as slow).
    # A line with \u escapes could spell a literal differently, so it skips the
    # substring tests (DuckDB's JSON functions decode escapes).
    paths: list[str] = []
    for d in dets:
        for p in _FIELD.findall(d.sql):
            if p not in paths:
                paths.append(p)
    prefilter = " OR ".join(
        "(" + " AND ".join(f"contains(line, {_sql_literal(n)})" for n in d.needles) + ")" for d in dets
    )
    escaped = "contains(line, '\\u')"
    conds = " OR ".join(
        "(" + _FIELD.sub(lambda m: f"v[{paths.index(m.group(1)) + 1}]", d.sql) + ")" for d in dets
    )
    extract = "json_extract_string(line, [" + ", ".join(f"'$.{p}'" for p in paths) + "])"
    # MATERIALIZED: otherwise DuckDB inlines v into the filter and parses a line once
    # per field; the candidates are few, so holding them costs little.
    return (
        f"WITH cand AS MATERIALIZED (SELECT line, {extract} AS v FROM ({relation}) "
        f"WHERE {prefilter} OR {escaped}) SELECT line FROM cand WHERE {conds}"
    )


def _parse(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError as exc:
        raise InputError(None, None, f"an audit line is not valid JSON ({exc}): {line[:120]}") from None


def judge(events: Iterable[Any], dets: Sequence[Detection]) -> list[Finding]:
    """Apply each detection's jq semantics to parsed events, keeping input order."""
    findings = [Finding(d) for d in dets]
    for ev in events:
        for f in findings:
            if f.detection.predicate(ev):
                f.events.append(ev)
    return findings


def detect(
    sources: list[Source],
    production_namespace: str = "production",
    con: duckdb.DuckDBPyConnection | None = None,
    only: Sequence[str] | None = None,
) -> list[Finding]:
    """Run the article's detections (or the ``only`` named ones) over audit files."""
    dets = [d for d in detections(production_namespace) if only is None or d.name in only]
    con = con or query.connect()
    rows = query.run(con, sources, lambda rel: _candidate_sql(rel, dets))
    return judge((_parse(line) for (line,) in rows), dets)


def finding_summary(ev: dict[str, Any]) -> dict[str, Any]:
    """The columns a person reads: when, who, what, where, result."""
    obj = ev.get("objectRef") if isinstance(ev.get("objectRef"), dict) else {}
    user = ev.get("user") if isinstance(ev.get("user"), dict) else {}
    status = ev.get("responseStatus") if isinstance(ev.get("responseStatus"), dict) else {}
    return {
        "time": ev.get("requestReceivedTimestamp"),
        "user": user.get("username"),
        "verb": ev.get("verb"),
        "namespace": obj.get("namespace"),
        "name": obj.get("name") or _role_binding_name(ev),
        "stage": ev.get("stage"),
        "code": status.get("code"),
        "auditID": ev.get("auditID"),
    }


def _role_binding_name(ev: dict[str, Any]) -> str | None:
    req = ev.get("requestObject")
    if isinstance(req, dict) and isinstance(req.get("metadata"), dict):
        name = req["metadata"].get("name")
        return name if isinstance(name, str) else None
    return None
