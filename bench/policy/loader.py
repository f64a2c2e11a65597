"""Load an audit.k8s.io/v1 Policy the way kube-apiserver v1.37 does.

Mirrors k8s.io/apiserver/pkg/audit/policy/reader.go (v0.37.2):
1. YAML -> JSON with sigs.k8s.io/yaml (first document; see yamlgo.py for scalar rules).
2. Strict decode. Unknown fields (field names are case-sensitive) and duplicate keys are
   "strict decoding errors": the apiserver logs a warning and decodes again leniently,
   ignoring them. We keep them as `Policy.warnings`. Type errors are fatal in both modes.
3. Group/version: the scheme serves only audit.k8s.io/v1. A missing `kind` defaults to Policy;
   a missing apiVersion decodes to the internal version and is then rejected ("unknown group
   version field"); any other version or kind fails to decode.
4. validation.ValidatePolicy, then "loaded illegal policy with 0 rules".
Every failure raises InputError(file, field path, reason).
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import yaml

from bench.errors import InputError
from bench.policy.model import LEVELS, STAGES, GroupResources, Policy, PolicyRule
from bench.policy.yamlgo import load_first_document

GROUP = "audit.k8s.io"
VERSION = "v1"

_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1123_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com')"
)


class _Decoder:
    """Decodes JSON-shaped data into the model, collecting strict-mode problems as warnings."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.strict_problems: list[str] = []

    def fail(self, path: str, reason: str) -> InputError:
        return InputError(self.source, path or None, reason)

    # --- primitive JSON decoding (encoding/json semantics: null leaves the zero value) ---
    def string(self, value: Any, path: str) -> str:
        if value is None:
            return ""
        if isinstance(value, str):
            return value
        raise self.fail(path, f"expected a string, got {_json_type(value)} {value!r}")

    def strings(self, value: Any, path: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.fail(path, f"expected a list of strings, got {_json_type(value)} {value!r}")
        return tuple(self.string(item, f"{path}[{i}]") for i, item in enumerate(value))

    def boolean(self, value: Any, path: str) -> bool | None:
        if value is None or isinstance(value, bool):
            return value
        raise self.fail(path, f"expected true or false, got {_json_type(value)} {value!r}")

    def mapping(self, value: Any, path: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(path, f"expected a mapping, got {_json_type(value)} {value!r}")
        return value

    def fields(
        self, obj: dict[str, Any], path: str, known: dict[str, Callable[[Any, str], Any]]
    ) -> dict[str, Any]:
        """Decode known keys; unknown ones are strict errors (sigs.k8s.io/json is case-sensitive)."""
        out: dict[str, Any] = {}
        for key in sorted(obj):  # JSON from sigs.k8s.io/yaml has sorted keys
            sub = f"{path}.{key}" if path else key
            if key in known:
                out[key] = known[key](obj[key], sub)
            else:
                self.strict_problems.append(f'unknown field "{sub}"')
        return out

    # --- audit.k8s.io/v1 types ---
    def policy(self, obj: dict[str, Any]) -> Policy:
        got = self.fields(
            obj,
            "",
            {
                "apiVersion": self.string,
                "kind": self.string,
                "metadata": self.object_meta,
                "rules": self.rules,
                "omitStages": self.strings,
                "omitManagedFields": self.boolean,
            },
        )
        return Policy(
            rules=got.get("rules", ()),
            omit_stages=got.get("omitStages", ()),
            omit_managed_fields=bool(got.get("omitManagedFields")),
            source=self.source,
        )

    def rules(self, value: Any, path: str) -> tuple[PolicyRule, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.fail(path, f"expected a list of rules, got {_json_type(value)}")
        return tuple(self.rule(item, f"{path}[{i}]") for i, item in enumerate(value))

    def rule(self, value: Any, path: str) -> PolicyRule:
        got = self.fields(
            self.mapping(value, path),
            path,
            {
                "level": self.string,
                "users": self.strings,
                "userGroups": self.strings,
                "verbs": self.strings,
                "resources": self.group_resources_list,
                "namespaces": self.strings,
                "nonResourceURLs": self.strings,
                "omitStages": self.strings,
                "omitManagedFields": self.boolean,
            },
        )
        return PolicyRule(
            level=got.get("level", ""),
            users=got.get("users", ()),
            user_groups=got.get("userGroups", ()),
            verbs=got.get("verbs", ()),
            resources=got.get("resources", ()),
            namespaces=got.get("namespaces", ()),
            non_resource_urls=got.get("nonResourceURLs", ()),
            omit_stages=got.get("omitStages", ()),
            omit_managed_fields=got.get("omitManagedFields"),
        )

    def group_resources_list(self, value: Any, path: str) -> tuple[GroupResources, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.fail(path, f"expected a list of group resources, got {_json_type(value)}")
        out = []
        for i, item in enumerate(value):
            sub = f"{path}[{i}]"
            got = self.fields(
                self.mapping(item, sub),
                sub,
                {"group": self.string, "resources": self.strings, "resourceNames": self.strings},
            )
            out.append(
                GroupResources(
                    group=got.get("group", ""),
                    resources=got.get("resources", ()),
                    resource_names=got.get("resourceNames", ()),
                )
            )
        return tuple(out)

    def object_meta(self, value: Any, path: str) -> None:
        """metav1.ObjectMeta: checked for shape only; nothing in it affects auditing."""
        string_map = self._string_map
        known: dict[str, Callable[[Any, str], Any]] = {
            "name": self.string,
            "generateName": self.string,
            "namespace": self.string,
            "selfLink": self.string,
            "uid": self.string,
            "resourceVersion": self.string,
            "generation": self._integer,
            "creationTimestamp": self._timestamp,
            "deletionTimestamp": self._timestamp,
            "deletionGracePeriodSeconds": self._integer,
            "labels": string_map,
            "annotations": string_map,
            "ownerReferences": self._object_list,
            "finalizers": self.strings,
            "managedFields": self._object_list,
        }
        self.fields(self.mapping(value, path), path, known)

    def _string_map(self, value: Any, path: str) -> None:
        for key, item in self.mapping(value, path).items():
            self.string(item, f"{path}.{key}")

    def _object_list(self, value: Any, path: str) -> None:
        if value is not None and not isinstance(value, list):
            raise self.fail(path, f"expected a list, got {_json_type(value)}")
        for i, item in enumerate(value or ()):
            self.mapping(item, f"{path}[{i}]")

    def _integer(self, value: Any, path: str) -> None:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise self.fail(path, f"expected an integer, got {_json_type(value)} {value!r}")

    def _timestamp(self, value: Any, path: str) -> None:
        text = self.string(value, path)
        if text:
            try:
                datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise self.fail(path, f"not an RFC 3339 time: {text!r}") from None


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return type(value).__name__


def _type_meta(doc: dict[str, Any]) -> tuple[Any, Any]:
    """apiVersion and kind as the serializer's meta factory reads them.

    It uses encoding/json, whose field matching is case-insensitive; over the sorted keys the
    last match wins (so `APIVERSION:` counts, and `apiVersion` beats it).
    """
    api_version: Any = None
    kind: Any = None
    for key in sorted(doc):
        folded = key.lower()
        if folded == "apiversion":
            api_version = doc[key]
        elif folded == "kind":
            kind = doc[key]
    return api_version, kind


def _check_group_version(source: str, api_version: Any, kind: Any) -> None:
    for field, value in (("apiVersion", api_version), ("kind", kind)):
        if value is not None and not isinstance(value, str):
            raise InputError(source, field, f"expected a string, got {_json_type(value)} {value!r}")
    api_version = api_version or ""
    kind = kind or "Policy"  # the decoder defaults a missing kind from the target type
    if not api_version:
        raise InputError(
            source, "apiVersion", f"missing; kube-apiserver reads only {GROUP}/{VERSION} Policy"
        )
    if api_version.count("/") > 1:
        raise InputError(source, "apiVersion", f"unexpected GroupVersion string: {api_version!r}")
    if api_version != f"{GROUP}/{VERSION}" or kind != "Policy":
        raise InputError(
            source,
            "apiVersion" if api_version != f"{GROUP}/{VERSION}" else "kind",
            f"no kind {kind!r} is registered for version {api_version!r}; "
            f"kube-apiserver v1.37 reads only {GROUP}/{VERSION} Policy",
        )


def validate(policy: Policy) -> list[tuple[str, str]]:
    """validation.ValidatePolicy: (field path, reason) for every problem.

    Upstream reports resource errors at `rules[i].resources.group`; we add the list index.
    """
    errors = _validate_stages(policy.omit_stages, "omitStages")
    for i, rule in enumerate(policy.rules):
        path = f"rules[{i}]"
        if rule.level == "":
            errors.append((f"{path}.level", "Required value"))
        elif rule.level not in LEVELS:
            supported = ", ".join(f'"{x}"' for x in LEVELS)
            errors.append((f"{path}.level", f'Unsupported value: "{rule.level}": supported values: {supported}'))
        errors += _validate_urls(rule.non_resource_urls, f"{path}.nonResourceURLs")
        errors += _validate_resources(rule.resources, f"{path}.resources")
        errors += _validate_stages(rule.omit_stages, f"{path}.omitStages")
        if rule.non_resource_urls and (rule.resources or rule.namespaces):
            errors.append(
                (f"{path}.nonResourceURLs", "rules cannot apply to both regular resources and non-resource URLs")
            )
    return errors


def _validate_stages(stages: tuple[str, ...], path: str) -> list[tuple[str, str]]:
    return [
        (f"{path}[{i}]", f"Invalid value: {stage!r}: allowed stages are {','.join(STAGES)}")
        for i, stage in enumerate(stages)
        if stage not in STAGES
    ]


def _validate_urls(urls: tuple[str, ...], path: str) -> list[tuple[str, str]]:
    errors = []
    for i, url in enumerate(urls):
        if url == "*":
            continue
        if not url.startswith("/"):
            errors.append((f"{path}[{i}]", f"Invalid value: {url!r}: non-resource URL rules must begin with a '/' character"))
        if url and "*" in url[:-1]:
            errors.append((f"{path}[{i}]", f"Invalid value: {url!r}: non-resource URL wildcards '*' must be the final character of the rule"))
    return errors


def _validate_resources(grs: tuple[GroupResources, ...], path: str) -> list[tuple[str, str]]:
    errors = []
    for i, gr in enumerate(grs):
        if gr.group and gr.group != "*":
            if len(gr.group) > 253:
                errors.append((f"{path}[{i}].group", f"Invalid value: {gr.group!r}: must be no more than 253 characters"))
            if not _DNS1123_SUBDOMAIN.match(gr.group):
                errors.append((f"{path}[{i}].group", f"Invalid value: {gr.group!r}: {_DNS1123_MSG}"))
        if gr.resource_names and not gr.resources:
            errors.append((f"{path}[{i}].resourceNames", "Invalid value: using resourceNames requires at least one resource"))
    return errors


def parse_policy(doc: Any, source: str = "<policy>", notes: list[str] | None = None) -> Policy:
    """Decode and validate JSON-shaped data (a dict from YAML or a generator) into a Policy."""
    if doc is None:
        raise InputError(source, "apiVersion", f"empty policy; kube-apiserver needs a {GROUP}/{VERSION} Policy")
    if not isinstance(doc, dict):
        raise InputError(source, None, f"failed decoding: expected a mapping at the top level, got {_json_type(doc)}")
    api_version, kind = _type_meta(doc)
    _check_group_version(source, api_version, kind)
    decoder = _Decoder(source)
    policy = decoder.policy(doc)
    problems = list(notes or ()) + decoder.strict_problems
    errors = validate(policy)
    if errors:
        field, reason = errors[0]
        more = f" (and {len(errors) - 1} more: " + "; ".join(f"{f}: {r}" for f, r in errors[1:]) + ")" if len(errors) > 1 else ""
        raise InputError(source, field, reason + more)
    if not policy.rules:
        raise InputError(source, "rules", "loaded illegal policy with 0 rules")
    if problems:
        warnings = tuple(
            f"strict decoding error: {p}; kube-apiserver falls back to lenient decoding and ignores it"
            for p in problems
        )
        policy = Policy(policy.rules, policy.omit_stages, policy.omit_managed_fields, source, warnings)
    return policy


def parse_policy_text(text: str, source: str = "<policy>") -> Policy:
    try:
        doc, duplicates = load_first_document(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(source, None, f"invalid YAML: {where}{problem}") from None
    return parse_policy(doc, source, duplicates)


def load_policy(path: str | Path) -> Policy:
    """Read a policy file; raises InputError naming the file, field path and reason."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(path, None, "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, None, f"cannot read: {exc}") from None
    return parse_policy_text(text, str(path))
