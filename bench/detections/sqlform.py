"""The SQL form of a detection: a DuckDB WHERE clause over the fields the detection declares.

Each declared field is a column named as written (quote it: ``"objectRef.resource"``).
Column types follow audit.k8s.io/v1 Event: responseStatus.code is BIGINT, user.groups,
impersonatedUser.groups and sourceIPs are VARCHAR[]; every other field is VARCHAR holding
a string as is and anything else (numbers, true/false, objects, lists) as its JSON text,
so ``CAST("requestObject.spec.replicas" AS INTEGER) > 3`` works. A field that is absent
or cannot be reached is NULL, with SQL's three-valued logic.

The clause is checked when the file loads: one expression, of type BOOLEAN, using only
the declared fields, every declared field used. It runs in an in-memory DuckDB with
external access off, on the distinct value rows only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import duckdb

from bench.detections.fields import ERROR, FieldPath

_INT_FIELDS = {("responseStatus", "code")}
_LIST_FIELDS = {("user", "groups"), ("impersonatedUser", "groups"), ("sourceIPs",)}
_INDEX = "__row"


def _column_type(path: FieldPath) -> str:
    if path.keys in _INT_FIELDS:
        return "BIGINT"
    if path.keys in _LIST_FIELDS:
        return "VARCHAR[]"
    return "VARCHAR"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _cell(path: FieldPath, value: Any) -> Any:
    if value is None or value is ERROR:
        return None
    kind = _column_type(path)
    if kind == "BIGINT":
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    if kind == "VARCHAR[]":
        return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _column_refs(node: Any, out: list[str]) -> list[str]:
    if isinstance(node, dict):
        if node.get("class") == "COLUMN_REF":
            out.append(".".join(node.get("column_names") or []))
        for v in node.values():
            _column_refs(v, out)
    elif isinstance(node, list):
        for v in node:
            _column_refs(v, out)
    return out


class SqlWhere:
    """A compiled WHERE clause; ``evaluate`` answers it for many value rows at once."""

    def __init__(self, where: str, reads: Sequence[FieldPath]) -> None:
        self.where = where
        self.reads = tuple(reads)
        self._con = duckdb.connect(":memory:")
        self._con.execute("SET enable_external_access = false")
        cols = ", ".join(f"{quote_ident(p.text)} {_column_type(p)}" for p in self.reads)
        self._con.execute(f"CREATE TABLE t ({_INDEX} INTEGER, {cols})")
        self._check()

    def _sql(self, select: str) -> str:
        return f"SELECT {select} FROM t WHERE ({self.where})"

    def _check(self) -> None:
        """ValueError with DuckDB's reason when the clause is not one boolean expression over the reads."""
        probe = f"SELECT ({self.where}) AS m FROM t"
        try:
            if len(self._con.extract_statements(probe)) != 1:
                raise ValueError("where must be one SQL expression, not several statements")
            ast = self._con.execute("SELECT json_serialize_sql(?)", [probe]).fetchone()[0]
            self._con.execute(f"INSERT INTO t VALUES ({', '.join(['NULL'] * (len(self.reads) + 1))})")
            kind = self._con.execute(f"SELECT typeof(({self.where})) FROM t").fetchone()
            self._con.execute("DELETE FROM t")
        except duckdb.Error as exc:
            raise ValueError(f"not a valid condition: {str(exc).splitlines()[0]}") from None
        doc = json.loads(ast)
        if doc.get("error"):
            raise ValueError(f"not a valid condition: {doc.get('error_message')}")
        if kind is None or kind[0] != "BOOLEAN":
            raise ValueError(f"where must be a condition (true or false), not a {kind[0] if kind else 'value'}")
        used = {c.lower() for c in _column_refs(doc, [])}
        unused = [p.text for p in self.reads if p.text.lower() not in used]
        if unused:
            raise ValueError(f"reads {unused} but where never uses it: declare only the fields the clause reads")

    def evaluate(self, rows: Sequence[Sequence[Any]], could: bool = False) -> list[bool]:
        """One answer per row of field values (in ``reads`` order). With ``could``, NULL
        stands for "unknown" and the answer is whether the clause could be true."""
        distinct: dict[tuple[str, ...], int] = {}
        uniq: list[tuple[Any, ...]] = []
        index_of: list[int] = []
        for row in rows:
            cells = tuple(_cell(p, v) for p, v in zip(self.reads, row))
            key = tuple(json.dumps(c, sort_keys=True) for c in cells)  # lists are unhashable
            if key not in distinct:
                distinct[key] = len(uniq)
                uniq.append(cells)
            index_of.append(distinct[key])
        self._con.execute("DELETE FROM t")
        if uniq:
            marks = ", ".join("?" * (len(self.reads) + 1))
            self._con.executemany(f"INSERT INTO t VALUES ({marks})", [(i, *cells) for i, cells in enumerate(uniq)])
        cond = f"({self.where}) IS NOT FALSE" if could else f"({self.where})"
        try:
            hits = {i for (i,) in self._con.execute(f"SELECT {_INDEX} FROM t WHERE {cond}").fetchall()}
        except duckdb.Error as exc:  # e.g. a CAST that some event's value does not fit
            raise ValueError(f"failed on the events' values: {str(exc).splitlines()[0]} "
                             "(TRY_CAST gives NULL instead of failing)") from None
        return [i in hits for i in index_of]
