"""The field/operator form of a detection: a list of conditions that must all hold (jq's ``and``).

Each condition names one field and one operator, with jq's semantics so a detection written
here selects exactly what the equivalent ``jq 'select(...)'`` selects:

    equals / not_equals      .f == v, .f != v (jq equality: 1 == 1.0, "1" != 1, null == null)
    in / not_in              any(.f == v_i), its negation
    startswith / endswith    .f | startswith(v); a non-string field is a jq error (no match)
    not_startswith / ...     (.f | startswith(v) | not); still an error on a non-string
    contains                 a string field contains v as a substring, or a list field has an
                             element equal to v; anything else is an error
    matches                  .f | test(v) (a regular expression); a non-string is an error
    exists                   true: .f != null, false: .f == null
    gte / lte                numbers only: .f >= v, .f <= v; a non-number does not match

An error anywhere, like false, means the event is not selected.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.detections.fields import ERROR

Scalar = str | int | float | bool | None
_UNKNOWN = object()  # a value the caller does not know (used to ask "could this ever match?")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def jq_equal(a: Any, b: Any) -> bool:
    if _is_number(a) and _is_number(b):
        return a == b
    if type(a) is not type(b):
        return False
    return bool(a == b)


def _string_op(fn: Callable[[str], bool]) -> Callable[[Any], Any]:
    def op(value: Any) -> Any:
        return fn(value) if isinstance(value, str) else ERROR
    return op


def _negate(op: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def neg(value: Any) -> Any:
        r = op(value)
        return r if r is ERROR else not r
    return neg


def _contains(want: Any) -> Callable[[Any], Any]:
    def op(value: Any) -> Any:
        if isinstance(value, str) and isinstance(want, str):
            return want in value
        if isinstance(value, list):
            return any(jq_equal(item, want) for item in value)
        return ERROR
    return op


def _compare(want: float, ge: bool) -> Callable[[Any], Any]:
    def op(value: Any) -> Any:
        return _is_number(value) and (value >= want if ge else value <= want)
    return op


OPERATORS = ("equals", "not_equals", "in", "not_in", "startswith", "not_startswith", "endswith", "not_endswith",
             "contains", "matches", "exists", "gte", "lte")


def make_test(op: str, arg: Any) -> Callable[[Any], Any]:
    """The test for ``field <op> arg``: value -> True, False or ERROR. Raises ValueError on a bad argument."""
    if op in ("equals", "not_equals"):
        _scalar(op, arg)
        test: Callable[[Any], Any] = lambda v: jq_equal(v, arg)  # noqa: E731
        return test if op == "equals" else _negate(test)
    if op in ("in", "not_in"):
        if not isinstance(arg, list) or not arg:
            raise ValueError(f"{op} needs a non-empty list of values")
        for item in arg:
            _scalar(op, item)
        test = lambda v: any(jq_equal(v, a) for a in arg)  # noqa: E731
        return test if op == "in" else _negate(test)
    if op in ("startswith", "not_startswith", "endswith", "not_endswith"):
        if not isinstance(arg, str):
            raise ValueError(f"{op} needs a string, got {arg!r}")
        base = op.removeprefix("not_")
        test = _string_op((lambda s: s.startswith(arg)) if base == "startswith" else (lambda s: s.endswith(arg)))
        return test if op == base else _negate(test)
    if op == "contains":
        _scalar(op, arg)
        return _contains(arg)
    if op == "matches":
        if not isinstance(arg, str):
            raise ValueError(f"matches needs a regular expression string, got {arg!r}")
        try:
            rx = re.compile(arg)
        except re.error as exc:
            raise ValueError(f"matches: not a valid regular expression: {exc}") from None
        return _string_op(lambda s: rx.search(s) is not None)
    if op == "exists":
        if not isinstance(arg, bool):
            raise ValueError(f"exists needs true or false, got {arg!r}")
        return lambda v: (v is not None) == arg
    if op in ("gte", "lte"):
        if not _is_number(arg):
            raise ValueError(f"{op} needs a number, got {arg!r}")
        return _compare(arg, op == "gte")
    raise ValueError(f"unknown operator {op!r} (operators: {', '.join(OPERATORS)})")


def _scalar(op: str, value: Any) -> None:
    if not (value is None or isinstance(value, (str, bool, int, float))):
        raise ValueError(f"{op} compares with a string, number, true/false or null, got {value!r}")


@dataclass(frozen=True)
class Condition:
    field_index: int  # into the detection's reads
    op: str
    arg: Any
    test: Callable[[Any], Any]

    def holds(self, value: Any) -> bool:
        if value is ERROR:
            return False
        return self.test(value) is True


def all_hold(conditions: Sequence[Condition], values: Sequence[Any]) -> bool:
    """jq's ``and`` over the conditions: left to right, any false or error is no match."""
    return all(c.holds(values[c.field_index]) for c in conditions)


def could_hold(conditions: Sequence[Condition], values: Sequence[Any]) -> bool:
    """Could the conditions hold when values set to UNKNOWN may be anything? (no condition
    on a known value fails)."""
    return all(values[c.field_index] is _UNKNOWN or c.holds(values[c.field_index]) for c in conditions)


UNKNOWN = _UNKNOWN
