"""Run a DuckDB query over audit files, turning reader failures into InputError."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

try:
    # The engine alone. `import duckdb` also loads the package's Python API (relational and
    # expression API, importlib.metadata for its version): ~0.1 s of CPU that every `logs`
    # command paid at start-up, as much as `logs detect` needs for 300 MB of log.
    import _duckdb as duckdb
except ImportError:  # an older duckdb without a top-level _duckdb
    import duckdb  # type: ignore[no-redef]

from bench.errors import InputError
from bench.logs import reader
from bench.logs.reader import Source

DOCUMENT_TABLE = "audit_documents"
Connection = duckdb.DuckDBPyConnection
Error = duckdb.Error  # the same class as duckdb.Error


def connect() -> Connection:
    con = duckdb.connect(":memory:")
    con.execute(f"SET threads = {max(1, os.cpu_count() or 1)}")
    con.execute("SET enable_progress_bar = false")
    return con


def run(
    con: Connection,
    sources: list[Source],
    build: Callable[[str], str],
    params: list[Any] | None = None,
    safe_build: Callable[[str], str] | None = None,
) -> list[tuple[Any, ...]]:
    """Execute ``build(relation_sql)`` and fetch all rows.

    ``relation_sql`` yields (line, nbytes) per event. A line longer than the fast
    reader's buffer makes DuckDB fail; then the query runs again with the big buffer.
    ``safe_build`` is a slower query giving the same answer, tried when ``build``
    (a fast path that may cut lines short) meets JSON it cannot parse; that retry
    also skips lines of only blanks (which jq accepts and DuckDB's parser does not).
    """
    reader.load_documents(con, sources, DOCUMENT_TABLE)
    big_lines = tolerant = False
    current = build
    while True:
        try:
            sql = current(reader.line_relation_sql(sources, DOCUMENT_TABLE, big_lines, tolerant))
            return con.execute(sql, params).fetchall()
        except duckdb.Error as exc:
            if _is_json_error(exc):
                if tolerant:
                    raise _input_error(sources, exc) from None
                # Second try: skip blank lines and parse whole lines.
                tolerant = True
                current = safe_build or build
                continue
            if big_lines:
                raise _input_error(sources, exc) from None
            big_lines = True


def _is_json_error(exc: duckdb.Error) -> bool:
    return "Malformed JSON" in str(exc)


def _input_error(sources: list[Source], exc: duckdb.Error) -> InputError:
    # DuckDB's message names neither file nor line: find the first bad line ourselves.
    for s in sources:
        where = reader.first_bad_line(s)
        if where:
            return InputError(s.path, None, where)
    return InputError(", ".join(str(s.path) for s in sources), None, str(exc).splitlines()[0])
