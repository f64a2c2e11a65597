"""The reference article's three jq detections, with jq's exact semantics, at DuckDB speed.

The article's expressions (run as ``jq 'select(...)' audit.log``):

- secrets: ``.objectRef.resource == "secrets" and .verb == "get" and
  (.user.username | startswith("system:serviceaccount:") | not)``
- cluster-admin bindings: ``.objectRef.resource == "clusterrolebindings" and
  .verb == "create" and .requestObject.roleRef.name == "cluster-admin"``
- exec in production: ``.objectRef.resource == "pods" and
  .objectRef.subresource == "exec" and .objectRef.namespace == "production"``

Each is a list of conditions (``Condition``), from which its jq text and its SQL are
derived. What jq does with them, per input:

- ``.a.b`` of null is null, of a non-object an error; ``x == "s"`` is true only for the
  string "s"; ``startswith`` on a non-string is an error; ``and`` stops at the first false.
- An input whose expression errors is not output (jq prints the error and goes on), so an
  event is selected exactly when every condition is true: for these conditions, when the
  value at each path is a string that equals (or does not start with) the literal.

How, in one DuckDB pass over the lines, the judging included:

1. Needles: a line can only match if it contains each literal of an equality as JSON text
   (``"secrets"``), unless an escape could spell one of the literal's characters another
   way (``\\u0065`` for e; Go's ``\\u0026`` for & in URIs cannot). DuckDB keeps the lines
   that contain the needles, or such an escape, at close to memory speed.
2. SQL: the few lines kept are parsed once; each condition is decided on the JSON value at
   its path, NULL when the path is missing or runs through a non-object: the value must be
   a string (not null, a number, a list or an object) equal to, or not starting with, the
   literal. That is jq's answer, so no line needs a second look in Python.

Residual differences from jq, none of which the apiserver's log backend writes: a
duplicate key is read at its first value (jq: the last); jq stops at the first line that
is not JSON (and reads several JSON values on one line), here only the lines kept are
parsed, one event per line; invalid UTF-8 is refused (exit 2, naming the line) where jq
substitutes U+FFFD. tests/unit/test_logs_detect.py checks all else against jq itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from bench.errors import InputError
from bench.logs import query
from bench.logs.reader import Source

if TYPE_CHECKING:
    from bench.logs.query import Connection

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Characters a needle may hold: printable ASCII that JSON text writes as itself. The rest
# may be escaped (\", \\, \/) or are escaped by Go's encoder (<, >, & as \u003c...).
_PLAIN = frozenset(chr(c) for c in range(0x20, 0x7F)) - set('"\\/<>&')
_GO_ESCAPED = (0x26, 0x3C, 0x3E)  # &, <, >: Go writes them as \u0026, \u003c, \u003e, in URIs above all


@dataclass(frozen=True)
class Condition:
    """``.path == "value"`` or ``(.path | startswith("value") | not)``, with jq's semantics."""

    path: tuple[str, ...]
    op: Literal["==", "not startswith"]
    value: str

    def __post_init__(self) -> None:
        if not self.path or not all(_IDENT.fullmatch(k) for k in self.path):
            raise ValueError(f"a condition's path is plain keys, got {self.path!r}")

    @property
    def dotted(self) -> str:
        return ".".join(self.path)

    def jq(self) -> str:
        lit = json.dumps(self.value, ensure_ascii=False)
        if self.op == "==":
            return f".{self.dotted} == {lit}"
        return f"(.{self.dotted} | startswith({lit}) | not)"

    def sql(self, v: str) -> str:
        """True exactly when jq's condition is true; ``v`` is the JSON value at the path (NULL
        when the path is missing or runs through a non-object, where jq gives null or errors)."""
        if set(self.value) <= _PLAIN:
            # DuckDB writes the value back as JSON text, and a plain literal has one spelling:
            # comparing text is exact and saves parsing the value once per condition.
            text = f"{v}::VARCHAR"
            if self.op == "==":
                return f"({text} = {_sql_literal(json.dumps(self.value))})"
            # A JSON string's text starts with '"'; any other value makes jq's startswith
            # error, and an input whose expression errors is not output.
            return f"(starts_with({text}, '\"') AND NOT starts_with({text}, {_sql_literal(chr(34) + self.value)}))"
        lit = _sql_literal(self.value)
        if self.op == "==":
            return f"(json_type({v}) = 'VARCHAR' AND ({v} ->> '$') = {lit})"
        return f"(json_type({v}) = 'VARCHAR' AND NOT starts_with({v} ->> '$', {lit}))"

    def needle(self) -> str | None:
        """The literal as it must appear in a matching line's JSON text, if it can be searched for."""
        if self.op == "==" and self.value and set(self.value) <= _PLAIN:
            return json.dumps(self.value)
        return None


@dataclass(frozen=True)
class Detection:
    name: str
    title: str
    conditions: tuple[Condition, ...]
    # A short piece of one literal starting with a rare character, searched first: DuckDB
    # finds such a needle at close to memory speed (one starting with '"', the commonest
    # character in JSON, is twice as slow). Empty: none.
    first_needle: str = ""

    def __post_init__(self) -> None:
        if self.first_needle and not any(self.first_needle in n for n in self._literal_needles()):
            raise ValueError(f"{self.name}: first needle {self.first_needle!r} is not part of a literal it needs")

    @property
    def jq(self) -> str:
        """The expression inside select(...)."""
        return " and ".join(c.jq() for c in self.conditions)

    def _literal_needles(self) -> list[str]:
        return [n for c in self.conditions if (n := c.needle()) is not None]

    @property
    def needles(self) -> tuple[str, ...]:
        """Strings every matching line without a \\u escape contains, the cheapest first."""
        literal = self._literal_needles()
        return tuple(([self.first_needle] if self.first_needle and literal else []) + literal)


def _eq(*path: str, value: str) -> Condition:
    return Condition(path, "==", value)


def detections(production_namespace: str = "production") -> list[Detection]:
    ns = production_namespace
    return [
        Detection(
            "secrets-read-by-non-serviceaccount",
            "Secrets read by users that are not service accounts",
            (_eq("objectRef", "resource", value="secrets"), _eq("verb", value="get"),
             Condition(("user", "username"), "not startswith", "system:serviceaccount:")),
            'secrets"',
        ),
        Detection(
            "clusterrolebinding-to-cluster-admin",
            "ClusterRoleBindings created to cluster-admin",
            (_eq("objectRef", "resource", value="clusterrolebindings"), _eq("verb", value="create"),
             _eq("requestObject", "roleRef", "name", value="cluster-admin")),
            "bindings",
        ),
        Detection(
            "exec-in-production",
            f"Exec into pods in namespace {ns}",
            (_eq("objectRef", "resource", value="pods"), _eq("objectRef", "subresource", value="exec"),
             _eq("objectRef", "namespace", value=ns)),
            'xec"',
        ),
    ]


@dataclass
class Finding:
    """What one detection selected: the events' JSON lines, in input order."""

    detection: Detection
    lines: list[str] = field(default_factory=list)

    @cached_property
    def events(self) -> list[dict[str, Any]]:
        return [_parse(line) for line in self.lines]

    def head(self, n: int) -> list[dict[str, Any]]:
        """The first ``n`` events, parsing no more lines than that (a table shows a few)."""
        return [_parse(line) for line in self.lines[:n]]


def _sql_literal(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _json_path(keys: Sequence[str]) -> str:
    return _sql_literal("$" + "".join(f".{k}" for k in keys))


def escapes_that_hide(needles: Iterable[str]) -> list[str]:
    """The \\u escapes that could spell a character of the needles, as prefixes to search for.

    Letters and digits can only be written as themselves or as \\u00XX (the other escapes
    stand for quotes, slashes and control characters). A needle character's escape is
    searched for by its first five characters (\\u006 covers a to o, in either case of the
    last digit) unless Go writes other characters of that group escaped, which are common
    (\\u0026 in every URI with two query parameters): then by its full spelling, both cases.
    """
    out: list[str] = []
    for c in sorted({c for n in needles for c in n} - {'"'}):
        code = ord(c)
        if any(g >> 4 == code >> 4 for g in _GO_ESCAPED):
            forms = [f"\\u{code:04x}", f"\\u{code:04X}"]
        else:
            forms = [f"\\u00{code >> 4:x}"]
        out.extend(f for f in forms if f not in out)
    return out


def _escaped_sql(dets: Sequence[Detection]) -> str:
    # A line whose needles may be spelled with escapes skips the needle test. The cheap
    # test for any escape first: one in ten lines has one, nearly always Go's \u0026.
    forms = escapes_that_hide(n for d in dets for n in d.needles)
    if not forms:
        return "false"
    return "(contains(line, '\\u') AND (" + " OR ".join(f"contains(line, {_sql_literal(f)})" for f in forms) + "))"


def candidate_sql(relation: str, dets: Sequence[Detection]) -> str:
    """SQL giving (line, match_1, ..., match_n) for the lines any detection selects, in order."""
    paths: list[tuple[str, ...]] = []
    for d in dets:
        for c in d.conditions:
            if c.path not in paths:
                paths.append(c.path)
    prefilter = " OR ".join(
        "(" + (" AND ".join(f"contains(line, {_sql_literal(n)})" for n in d.needles) or "true") + ")" for d in dets
    )
    escaped = _escaped_sql(dets)
    extract = "json_extract(line, [" + ", ".join(_json_path(p) for p in paths) + "])"
    names = [f"m{i}" for i in range(len(dets))]
    flags = ", ".join(
        "(" + " AND ".join(c.sql(f"v[{paths.index(c.path) + 1}]") for c in d.conditions) + f") IS TRUE AS {n}"
        for d, n in zip(dets, names)
    )
    # MATERIALIZED: otherwise DuckDB inlines v into every condition and parses a line once
    # per field; the kept lines are few, so holding them costs little.
    return (
        f"WITH cand AS MATERIALIZED (SELECT line, {extract} AS v FROM ({relation}) WHERE {prefilter} OR {escaped}), "
        f"judged AS (SELECT line, {flags} FROM cand) "
        f"SELECT line, {', '.join(names)} FROM judged WHERE {' OR '.join(names)}"
    )


def _parse(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError as exc:
        raise InputError(None, None, f"an audit line is not valid JSON ({exc}): {line[:120]}") from None


def detect(
    sources: list[Source],
    production_namespace: str = "production",
    con: Connection | None = None,
    only: Sequence[str] | None = None,
) -> list[Finding]:
    """Run the article's detections (or the ``only`` named ones) over audit files."""
    dets = [d for d in detections(production_namespace) if only is None or d.name in only]
    findings = [Finding(d) for d in dets]
    if not dets:
        return findings
    con = con or query.connect()
    for line, *flags in query.run(con, sources, lambda rel: candidate_sql(rel, dets)):
        for f, hit in zip(findings, flags):
            if hit:
                f.lines.append(line)
    return findings


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
