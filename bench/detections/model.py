"""Detections: the file schema (strict, like scenarios) and the compiled form the analyses use.

A detections file (YAML):

    version: 1
    detections:
      - name: secrets-read-by-non-serviceaccount      # lowercase, digits, dashes; unique
        title: Secrets read by users that are not service accounts
        match:                                         # all must hold (jq's `and`)
          - {field: objectRef.resource, equals: secrets}
          - {field: verb, equals: get}
          - {field: user.username, not_startswith: "system:serviceaccount:"}
      - name: forbidden-for-humans
        title: Requests refused to people
        reads: [responseStatus.code, user.username]    # the SQL form declares its fields
        where: '"responseStatus.code" = 403 AND NOT starts_with("user.username", ''system:'')'
        stages: [ResponseComplete]                     # optional: only events of these stages

The fields a detection reads are what coverage checks: an event still counts under a
policy only when every field the detection read in the capture is still logged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bench.detections import conditions as cond
from bench.detections.fields import FieldPath, parse_field
from bench.detections.sqlform import SqlWhere
from bench.errors import InputError
from bench.policy.model import STAGES

_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConditionSpec(BaseModel):
    """``{field: PATH, <operator>: VALUE}`` with exactly one operator."""

    model_config = ConfigDict(extra="allow", frozen=True)
    field: str

    @model_validator(mode="after")
    def _one_operator(self) -> ConditionSpec:
        extra = dict(self.model_extra or {})
        unknown = [k for k in extra if k not in cond.OPERATORS]
        if unknown:
            raise ValueError(f"unknown key {unknown[0]!r} (operators: {', '.join(cond.OPERATORS)})")
        if len(extra) != 1:
            raise ValueError(f"give exactly one operator besides field (operators: {', '.join(cond.OPERATORS)})")
        op, arg = next(iter(extra.items()))
        cond.make_test(op, arg)  # a bad argument is a ValueError here, with the field path
        parse_field(self.field)
        return self

    @property
    def op(self) -> str:
        return next(iter(self.model_extra or {}))

    @property
    def arg(self) -> Any:
        return (self.model_extra or {})[self.op]


class DetectionSpec(_Strict):
    name: str
    title: str = Field(min_length=1)
    description: str | None = None
    stages: list[Literal["RequestReceived", "ResponseStarted", "ResponseComplete", "Panic"]] | None = Field(
        default=None, min_length=1)
    match: list[ConditionSpec] | None = Field(default=None, min_length=1)
    where: str | None = Field(default=None, min_length=1)
    reads: list[str] | None = Field(default=None, min_length=1)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"{v!r}: use lowercase letters, digits and dashes (e.g. exec-in-production)")
        return v

    @field_validator("reads")
    @classmethod
    def _reads(cls, v: list[str] | None) -> list[str] | None:
        if v is not None:
            for text in v:
                parse_field(text)
            if len({t.strip() for t in v}) != len(v):
                raise ValueError("a field is listed twice")
        return v

    @field_validator("stages")
    @classmethod
    def _stages(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and len(set(v)) != len(v):
            raise ValueError("a stage is listed twice")
        return v

    @model_validator(mode="after")
    def _one_form(self) -> DetectionSpec:
        if (self.match is None) == (self.where is None):
            raise ValueError("give either match (field/operator conditions) or where (a SQL condition), not both")
        if self.where is not None and self.reads is None:
            raise ValueError("a where detection must declare the fields it reads (reads: [objectRef.resource, ...])")
        if self.match is not None and self.reads is not None:
            raise ValueError("reads is only for where detections: a match detection reads its conditions' fields")
        return self


class DetectionsFile(_Strict):
    version: Literal[1]
    detections: list[DetectionSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> DetectionsFile:
        seen: set[str] = set()
        for d in self.detections:
            if d.name in seen:
                raise ValueError(f"two detections are named {d.name!r}")
            seen.add(d.name)
        return self


@dataclass(frozen=True, eq=False)
class Detection:
    """A compiled detection. ``evaluate`` takes rows of the values of ``reads``."""

    name: str
    title: str
    reads: tuple[FieldPath, ...]
    stages: frozenset[str] | None
    conditions: tuple[cond.Condition, ...] | None
    sql: SqlWhere | None
    source: str = "<detections>"
    index: int = 0
    description: str | None = None

    def values(self, event: Any) -> tuple[Any, ...]:
        return tuple(p.read(event) for p in self.reads)

    def sees(self, stage: str) -> bool:
        return self.stages is None or stage in self.stages

    def evaluate(self, rows: Sequence[Sequence[Any]], could: bool = False) -> list[bool]:
        """Match per row. ``could``: values that are conditions.UNKNOWN (operator form) or
        None (SQL form) stand for anything, and the answer is whether a match is possible."""
        if self.conditions is not None:
            fn = cond.could_hold if could else cond.all_hold
            return [fn(self.conditions, row) for row in rows]
        assert self.sql is not None
        if could:
            rows = [tuple(None if v is cond.UNKNOWN else v for v in row) for row in rows]
        try:
            return self.sql.evaluate(rows, could=could)
        except ValueError as exc:
            raise InputError(self.source, f"detections[{self.index}].where", str(exc)) from None

    def matches(self, event: Any) -> bool:
        stage = event.get("stage") if isinstance(event, dict) else None
        return self.sees(str(stage)) and self.evaluate([self.values(event)])[0]

    def expression(self) -> str:
        """The detection as a jq select (operator form) or its SQL clause."""
        if self.sql is not None:
            return f"SQL: {self.sql.where.strip()}"
        assert self.conditions is not None
        return "select(" + " and ".join(_jq(self.reads[c.field_index], c) for c in self.conditions) + ")"


def _jq(path: FieldPath, c: cond.Condition) -> str:
    f = "." + ".".join(k if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k) else json.dumps(k) for k in path.keys)
    a = json.dumps(c.arg)
    forms = {
        "equals": f"{f} == {a}", "not_equals": f"{f} != {a}",
        "in": "(" + " or ".join(f"{f} == {json.dumps(x)}" for x in c.arg) + ")" if c.op == "in" else "",
        "not_in": "(" + " or ".join(f"{f} == {json.dumps(x)}" for x in c.arg) + " | not)" if c.op == "not_in" else "",
        "startswith": f"({f} | startswith({a}))", "not_startswith": f"({f} | startswith({a}) | not)",
        "endswith": f"({f} | endswith({a}))", "not_endswith": f"({f} | endswith({a}) | not)",
        "contains": f"({f} | if type == \"array\" then any(. == {a}) else contains({a}) end)",
        "matches": f"({f} | test({a}))", "exists": f"{f} {'!=' if c.arg else '=='} null",
        "gte": f"({f} | type == \"number\" and . >= {a})", "lte": f"({f} | type == \"number\" and . <= {a})",
    }
    return forms[c.op]


def compile_spec(spec: DetectionSpec, source: str, index: int) -> Detection:
    stages = frozenset(spec.stages) if spec.stages else None
    if spec.match is not None:
        reads: list[FieldPath] = []
        conds = []
        for c in spec.match:
            path = parse_field(c.field)
            at = next((i for i, p in enumerate(reads) if p.keys == path.keys), None)
            if at is None:
                reads.append(path)
                at = len(reads) - 1
            conds.append(cond.Condition(at, c.op, c.arg, cond.make_test(c.op, c.arg)))
        return Detection(spec.name, spec.title, tuple(reads), stages, tuple(conds), None, source, index, spec.description)
    assert spec.where is not None and spec.reads is not None
    paths = tuple(parse_field(t) for t in spec.reads)
    try:
        sql = SqlWhere(spec.where, paths)
    except ValueError as exc:
        raise InputError(source, f"detections[{index}].where", str(exc)) from None
    return Detection(spec.name, spec.title, paths, stages, None, sql, source, index, spec.description)


__all__ = ["Detection", "DetectionSpec", "DetectionsFile", "STAGES", "compile_spec"]
