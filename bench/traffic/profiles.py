"""Traffic profiles (profiles.yaml): weights per request class and who performs them.

Validated strictly: unknown keys, unknown classes, identities or namespace roles, and
duplicate YAML keys are errors naming the file and the field.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bench.errors import InputError
from bench.traffic.catalog import BULK_CLASSES, CLASSES, NAMESPACE_ROLES, SCHEDULED_CLASSES, identity_names

DEFAULT_FILE = Path(__file__).with_name("profiles.yaml")


def _known_class(name: str) -> str:
    from bench.traffic.derive import REPLAY_NAME

    if name not in CLASSES and not REPLAY_NAME.match(name):
        raise ValueError(f"unknown request class {name!r} (a replayed class reads 'VERB RESOURCE SCOPE USERKIND')")
    return name


ClassName = Annotated[str, AfterValidator(_known_class)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


_VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")


class Replay(_Strict):
    """A request shape from an audit log (bench.traffic.derive): what the replay sends."""

    verb: str = Field(min_length=1)
    scope: str = Field(pattern=r"^(namespace|cluster|-)$")
    group: str = ""
    version: str = "v1"
    resource: str = ""
    subresource: str = ""
    path: str = ""  # a non-resource URL
    body_bytes: int | None = Field(None, ge=0, le=3 << 20)

    @model_validator(mode="after")
    def _target(self) -> Replay:
        if bool(self.resource) == bool(self.path):
            raise ValueError("give either resource (an API resource) or path (a non-resource URL)")
        if self.path and not self.path.startswith("/"):
            raise ValueError(f"path {self.path!r} must start with /")
        if self.resource and self.verb not in _VERBS:
            raise ValueError(f"verb {self.verb!r}: a resource request is one of {', '.join(_VERBS)}")
        if self.resource and self.scope == "-":
            raise ValueError("a resource request is namespace- or cluster-scoped")
        return self


class ClassEntry(_Strict):
    weight: float = Field(gt=0, le=1e12)
    as_: str | None = Field(None, alias="as")
    namespaces: tuple[str, ...] | None = None
    request: Replay | None = None  # a replayed class (from `auditbench traffic from-log`)

    @field_validator("as_")
    @classmethod
    def _identity(cls, value: str | None) -> str | None:
        if value is not None and value not in identity_names():
            raise ValueError(f"unknown identity {value!r} (known: {', '.join(identity_names())})")
        return value

    @field_validator("namespaces")
    @classmethod
    def _roles(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("must name at least one namespace role")
        bad = [v for v in value if v not in NAMESPACE_ROLES]
        if bad:
            raise ValueError(f"unknown namespace role(s) {bad} (known: {', '.join(NAMESPACE_ROLES)})")
        return value


# The growth collection's bounds. A configmap holds at most 1 MiB; the collection's total is
# kept to 1 GiB because an unpaged LIST of it costs the apiserver several times its size in
# memory (more when audit encodes the response), on a 24 GiB machine.
MAX_OBJECTS = 20_000
MAX_OBJECT_KB = 900.0
MAX_COLLECTION_BYTES = 1 << 30


def check_collection(count: int, size_kb: float) -> None:
    """ValueError unless ``count`` objects of ``size_kb`` fit the bounds above."""
    if count * size_kb * 1024 > MAX_COLLECTION_BYTES:
        raise ValueError(f"{count} objects of {size_kb:g} KB is {count * size_kb / 1024:.0f} MiB, more than the "
                         f"{MAX_COLLECTION_BYTES >> 20} MiB an unpaged LIST of it can take on this machine")


class Objects(_Strict):
    """The collection the bulk.* classes read: ``count`` configmaps of ``size_kb`` KB each."""

    count: int = Field(ge=1, le=MAX_OBJECTS)
    size_kb: float = Field(gt=0, le=MAX_OBJECT_KB)

    @field_validator("size_kb")
    @classmethod
    def _fits(cls, value: float, info: Any) -> float:
        if "count" in info.data:
            check_collection(info.data["count"], value)
        return value


MAX_NODES = 2000  # simulated kubelets: one Locust user (greenlet, connections) each


class Kubelets(_Strict):
    """Simulated nodes (bench.traffic.kubelet): each traffic user is one node on kubelet's schedule."""

    nodes: int = Field(100, ge=1, le=MAX_NODES)


class Profile(_Strict):
    description: str = Field(min_length=1)
    # A node-simulator profile: no weighted classes, each user is a kubelet (traffic.nodes overrides the count).
    kubelet: Kubelets | None = None
    # Default collection for the bulk.* classes; a scenario's traffic.objects overrides it.
    objects: Objects | None = None
    # The request rate of the log a profile was derived from (traffic.rate_scales multiplies it).
    rate_rps: float | None = Field(None, gt=0, le=1_000_000)
    watch_timeout_s: int = Field(5, ge=1, le=60)  # timeoutSeconds of every watch
    pool_size: int = Field(20, ge=1, le=1000)  # objects each user keeps per kind for its deletes
    classes: dict[ClassName, ClassEntry] = {}

    @field_validator("classes", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        # "secrets.get: 5" is short for "secrets.get: {weight: 5}".
        if isinstance(value, dict):
            return {k: ({"weight": v} if isinstance(v, (int, float)) and not isinstance(v, bool) else v)
                    for k, v in value.items()}
        return value

    @field_validator("classes")
    @classmethod
    def _scopes(cls, value: dict[str, ClassEntry]) -> dict[str, ClassEntry]:
        for name, entry in value.items():
            if (name in CLASSES) == (entry.request is not None):
                raise ValueError(f"{name}: a replayed class has a request (and only a replayed class)")
            if entry.request is not None:
                continue
            if entry.namespaces is not None and CLASSES[name].cluster_scoped:
                raise ValueError(f"{name} is cluster-scoped: namespaces does not apply")
            if entry.namespaces is not None and name in BULK_CLASSES:
                raise ValueError(f"{name} reads the run's collection in its own namespace: namespaces does not apply")
        return value

    @model_validator(mode="after")
    def _kind(self) -> Profile:
        scheduled = sorted(SCHEDULED_CLASSES & set(self.classes))
        if self.kubelet is not None and self.classes:
            raise ValueError("a kubelet profile sends on kubelet's schedule: leave classes out")
        if self.kubelet is None and not self.classes:
            raise ValueError("classes: at least one request class (or kubelet: {nodes: N})")
        if scheduled:
            raise ValueError(f"{scheduled[0]} is sent on kubelet's schedule only (a kubelet profile)")
        return self

    @model_validator(mode="after")
    def _collection(self) -> Profile:
        if self.objects is None and BULK_CLASSES & set(self.classes):
            raise ValueError("bulk.* classes need objects: {count: N, size_kb: S} (the collection they read)")
        return self

    @property
    def reads_collection(self) -> bool:
        return bool(BULK_CLASSES & set(self.classes))

    def identity(self, cls: str) -> str:
        """Who performs ``cls``; classes outside the profile (a create a delete needs) use the default."""
        entry = self.classes.get(cls)
        if entry is not None and entry.request is not None:
            return entry.as_ or "controller"
        return (entry.as_ if entry else None) or CLASSES[cls].identity

    def namespace_roles(self, cls: str) -> tuple[str, ...]:
        entry = self.classes.get(cls)
        if entry is not None and entry.request is not None:
            return entry.namespaces or NAMESPACE_ROLES[:3]
        return (entry.namespaces if entry else None) or CLASSES[cls].namespaces

    def replay(self, cls: str) -> Replay | None:
        entry = self.classes.get(cls)
        return entry.request if entry is not None else None

    def weights(self) -> tuple[list[str], list[float]]:
        names = sorted(self.classes)
        return names, [self.classes[n].weight for n in names]

    def without(self, classes: frozenset[str] | set[str] | list[str]) -> Profile:
        """This profile with ``classes`` left out (the others keep their weights)."""
        drop = set(classes)
        if not drop & set(self.classes):
            return self
        kept = {k: v for k, v in self.classes.items() if k not in drop}
        if not kept:
            raise InputError(None, "classes", "every class of the profile is left out")
        return self.model_copy(update={"classes": kept})

    def shares(self) -> dict[str, float]:
        total = sum(e.weight for e in self.classes.values())
        return {n: e.weight / total for n, e in sorted(self.classes.items())}


class ProfileFile(_Strict):
    version: int = Field(ge=1, le=1)
    profiles: dict[str, Profile] = Field(min_length=1)

    @field_validator("profiles")
    @classmethod
    def _names(cls, value: dict[str, Profile]) -> dict[str, Profile]:
        for name in value:
            if not name or not all(ch.isalnum() or ch in "-_" for ch in name):
                raise ValueError(f"profile name {name!r}: use letters, digits, '-' and '_'")
        return value


class _UniqueKeyLoader(yaml.SafeLoader):
    pass


def _mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def _field_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        text = str(part)
        if isinstance(part, int) or "." in text:
            out += f"[{text!r}]" if not isinstance(part, int) else f"[{part}]"
        else:
            out += ("." if out else "") + text
    return out


def parse_profiles(doc: Any, where: str | Path) -> ProfileFile:
    try:
        return ProfileFile.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        # pydantic marks a failing dict key with a trailing "[key]" element.
        loc = tuple(p for p in first["loc"] if p != "[key]")
        raise InputError(where, _field_path(loc) or None, first["msg"]) from None


def load_profiles(path: str | Path = DEFAULT_FILE) -> ProfileFile:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(path, None, f"cannot read: {exc.strerror}") from None
    try:
        doc = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        raise InputError(path, None, f"invalid YAML: {exc}") from None
    return parse_profiles(doc, path)


@functools.lru_cache(maxsize=8)
def profile_names(path: Path = DEFAULT_FILE) -> tuple[str, ...]:
    """The profiles ``path`` defines (scenario files are checked against these)."""
    return tuple(load_profiles(path).profiles)


def load_profile(name: str, path: str | Path = DEFAULT_FILE) -> Profile:
    profiles = load_profiles(path).profiles
    if name not in profiles:
        raise InputError(path, "profiles", f"no profile named {name!r} (have: {', '.join(sorted(profiles))})")
    return profiles[name]
