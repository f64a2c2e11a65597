"""YAML reading that resolves plain scalars the way the apiserver's YAML library does.

kube-apiserver turns a policy file into JSON with sigs.k8s.io/yaml, which parses with
go.yaml.in/yaml/v2 (YAML 1.1 rules, first document only, later duplicate keys win). PyYAML
differs in a few resolutions that decide whether a value is a string (and so whether the file
is valid): v2 reads `y`/`n` as booleans, keeps timestamps as strings, has no base-60 numbers
and reads `017` as octal. This module applies v2's rules (resolve.go) to plain scalars so a
value is a string here exactly when it is a string there.
"""

from __future__ import annotations

import math
import re
from typing import Any

import yaml

_RESOLVE_MAP: dict[str, Any] = {}
for _values, _v in (
    (("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), True),
    (("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), False),
    (("", "~", "null", "Null", "NULL"), None),
    ((".nan", ".NaN", ".NAN"), math.nan),
    ((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), math.inf),
    (("-.inf", "-.Inf", "-.INF"), -math.inf),
):
    for _s in _values:
        _RESOLVE_MAP[_s] = _v

# strconv.ParseInt/ParseUint with base 0, after v2 strips every "_".
_GO_INT = re.compile(r"^[+-]?(?:0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO][0-7]+|0[0-7]*|[1-9][0-9]*)$")
_YAML_STYLE_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_DOT_FLOAT = re.compile(r"^\.[0-9]+(?:[eE][-+]?[0-9]+)?$")


def go_resolve(text: str) -> Any:
    """The value go.yaml.in/yaml/v2 gives an untagged plain scalar decoded into interface{}."""
    if text in _RESOLVE_MAP:
        return _RESOLVE_MAP[text]
    first = text[0]
    if first == ".":
        return float(text) if _DOT_FLOAT.match(text) else text
    if first in "+-" or first.isdigit():
        # Timestamps stay strings when decoded into interface{} (v2 keeps them for compatibility).
        plain = text.replace("_", "")
        if _GO_INT.match(plain):
            return _go_int(plain)
        if _YAML_STYLE_FLOAT.match(plain):
            return float(plain)
    return text


def _go_int(plain: str) -> int:
    sign = -1 if plain.startswith("-") else 1
    body = plain.lstrip("+-")
    if len(body) > 1 and body[0] == "0" and body[1] in "0123456789":
        return sign * int(body, 8)
    return sign * int(body, 0) if body != "0" else 0


class _GoLoader(yaml.SafeLoader):
    """SafeLoader with v2's scalar resolution; records duplicate keys instead of failing."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[str] = []


# Start from no implicit resolvers: every plain scalar arrives as a str node and is
# resolved by go_resolve. Merge keys ("<<") stay, since v2 honours them too.
_GoLoader.yaml_implicit_resolvers = {}
_GoLoader.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^(?:<<)$"), ["<"])


def _construct_str(loader: _GoLoader, node: yaml.ScalarNode) -> Any:
    value = loader.construct_scalar(node)
    # PyYAML does not record whether a tag was explicit, so a plain scalar written as
    # `!!str yes` is resolved like `yes`; that form does not occur in policy files.
    if node.style is None:
        return go_resolve(str(value))
    return value


def _key_string(key: Any, line: int) -> str:
    """sigs.k8s.io/yaml turns non-string map keys into strings (convertToJSONableObject)."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        return str(key)
    if isinstance(key, float):
        return repr(key)
    raise yaml.constructor.ConstructorError(
        None, None, f"unsupported map key {key!r} on line {line}", None
    )


def _construct_mapping(loader: _GoLoader, node: yaml.MappingNode) -> dict[str, Any]:
    loader.flatten_mapping(node)
    out: dict[str, Any] = {}
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        key = _key_string(loader.construct_object(key_node, deep=True), line)
        if key in out:
            loader.duplicates.append(f"line {line}: duplicate key {key!r} (the later value is used)")
        out[key] = loader.construct_object(value_node, deep=True)
    return out


_GoLoader.add_constructor("tag:yaml.org,2002:str", _construct_str)
_GoLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)


def load_first_document(text: str) -> tuple[Any, list[str]]:
    """Parse the first YAML document like sigs.k8s.io/yaml; returns (data, duplicate-key notes).

    Raises yaml.YAMLError on a syntax error.
    """
    loader = _GoLoader(text)
    try:
        data = loader.get_data() if loader.check_data() else None
        return data, loader.duplicates
    finally:
        loader.dispose()
