"""Request attributes as the audit filter sees them, and the HTTP <-> attributes mapping.

The audit policy is evaluated on authorizer attributes built from RequestInfo
(k8s.io/apiserver/pkg/endpoints/request/requestinfo.go, v0.37.2) and the authenticated user,
before impersonation and authorization. `parse_request` ports RequestInfo for kube-apiserver
(API prefixes "api" and "apis", "api" groupless) so a test can turn the HTTP request it sends
into the exact attributes the apiserver evaluates; `to_http` goes the other way.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping
from urllib.parse import parse_qs, quote, unquote, urlsplit

# RequestInfo: verbs given by a path prefix, and the namespace subresources.
_SPECIAL_VERBS = frozenset({"proxy", "watch"})
_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})
_METHOD_VERBS = {"POST": "create", "GET": "get", "HEAD": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}

# kube-apiserver's LongRunningFunc (pkg/controlplane/apiserver/config.go, v1.37.2) built with
# BasicLongRunningRequestCheck (k8s.io/apiserver/pkg/server/filters/longrunning.go).
LONG_RUNNING_VERBS = frozenset({"watch", "proxy"})
LONG_RUNNING_SUBRESOURCES = frozenset({"attach", "exec", "proxy", "log", "portforward"})


@dataclass(frozen=True, slots=True)
class RequestAttributes:
    """What the policy checker sees. `authenticated=False` models a request whose
    authentication failed: the checker then has no user, so users/userGroups rules never match."""

    user: str
    groups: tuple[str, ...]
    verb: str
    namespace: str = ""
    api_group: str = ""
    api_version: str = "v1"
    resource: str = ""
    subresource: str = ""
    name: str = ""
    path: str = ""
    is_resource_request: bool = True
    authenticated: bool = field(default=True)

    @classmethod
    def from_audit_event(cls, event: Mapping[str, Any]) -> RequestAttributes:
        """The attributes the apiserver evaluated for an audit.k8s.io/v1 Event.

        The path parts come from requestURI (objectRef.name/namespace can be filled in later
        from the request body, e.g. on create, so they are not what the policy saw); the verb is
        the event's. A request whose authentication failed has no username.
        """
        user = event.get("user") or {}
        username = user.get("username") or ""
        groups = tuple(user.get("groups") or ())
        verb = event.get("verb") or ""
        uri = event.get("requestURI") or ""
        if not event.get("objectRef") and not _looks_like_resource(uri):
            split = urlsplit(uri)
            return cls(username, groups, verb, path=unquote(split.path), api_version="",
                       is_resource_request=False, authenticated=bool(username))
        method = _VERB_METHODS.get(verb, "GET")
        attrs = parse_request(username, groups, method, uri)
        if not attrs.is_resource_request:  # a prefix we do not know: trust objectRef
            ref = event.get("objectRef") or {}
            attrs = cls(username, groups, verb, ref.get("namespace") or "", ref.get("apiGroup") or "",
                        ref.get("apiVersion") or "", ref.get("resource") or "", ref.get("subresource") or "",
                        ref.get("name") or "", attrs.path, True)
        return replace(attrs, verb=verb, authenticated=bool(username))


_VERB_METHODS = {
    "create": "POST", "get": "GET", "list": "GET", "watch": "GET", "update": "PUT",
    "patch": "PATCH", "delete": "DELETE", "deletecollection": "DELETE", "proxy": "GET",
}


def _looks_like_resource(uri: str) -> bool:
    parts = _split_path(unquote(urlsplit(uri).path))
    return len(parts) >= 3 and parts[0] in ("api", "apis") and (parts[0] == "api" or len(parts) >= 4)


def _split_path(path: str) -> list[str]:
    path = path.strip("/")
    return path.split("/") if path else []


def parse_request(
    user: str,
    groups: tuple[str, ...] | list[str],
    method: str,
    uri: str,
    query: Mapping[str, str] | None = None,
) -> RequestAttributes:
    """RequestInfoFactory.NewRequestInfo for kube-apiserver, plus the user.

    `uri` may carry a query string; `query` adds parameters. Only the list-option parameters
    that decide list vs watch and a name from `fieldSelector=metadata.name=...` matter here.
    """
    split = urlsplit(uri)
    path = unquote(split.path)
    params = {k: v for k, v in parse_qs(split.query, keep_blank_values=True).items()}
    for key, value in (query or {}).items():
        params.setdefault(key, []).append(value)
    groups = tuple(groups)
    verb = method.lower()
    parts = _split_path(path)
    nonresource = RequestAttributes(user, groups, verb, api_version="", path=path, is_resource_request=False)
    if len(parts) < 3 or parts[0] not in ("api", "apis"):
        return nonresource
    prefix, parts = parts[0], parts[1:]
    api_group = ""
    if prefix == "apis":
        if len(parts) < 3:
            return nonresource
        api_group, parts = parts[0], parts[1:]
    api_version, parts = parts[0], parts[1:]
    via_prefix = parts[0] in _SPECIAL_VERBS
    if via_prefix:
        if len(parts) < 2:
            # upstream returns an error here; the request is treated as a resource request
            # with no resource (and fails later). Nothing in our corpus sends it.
            return RequestAttributes(user, groups, verb, api_group=api_group, api_version=api_version, path=path)
        verb, parts = parts[0], parts[1:]
    else:
        verb = _METHOD_VERBS.get(method.upper(), "")
    namespace = ""
    if parts[0] == "namespaces":
        if len(parts) > 1:
            namespace = parts[1]
            if len(parts) > 2 and parts[2] not in _NAMESPACE_SUBRESOURCES:
                parts = parts[2:]
    resource = parts[0] if parts else ""
    name = parts[1] if len(parts) >= 2 else ""
    subresource = parts[2] if len(parts) >= 3 and verb != "proxy" else ""
    if not name and verb == "get":
        verb, name = _list_or_watch(params)
    if not name and verb == "delete":
        verb = "deletecollection"
    return RequestAttributes(user, groups, verb, namespace, api_group, api_version, resource, subresource, name, path, True)


def _list_or_watch(params: dict[str, list[str]]) -> tuple[str, str]:
    """ListOptions decoding in NewRequestInfo: watch flag, and a name from an exact
    metadata.name field selector. A parameter that fails to decode drops the selector."""
    watch_values = params.get("watch", [])
    watch = bool(watch_values) and not (watch_values[0] == "0" or watch_values[0].lower() == "false")
    name = ""
    try:
        for key in ("timeoutSeconds", "limit"):
            if params.get(key):
                int(params[key][0], 10)
        selector = params.get("fieldSelector", [""])[0]
        if selector:
            name = _exact_field(_parse_field_selector(selector), "metadata.name")
    except ValueError:
        name = ""
    if name in (".", "..") or "/" in name or "%" in name:  # content.IsPathSegmentName
        name = ""
    return ("watch" if watch else "list"), name


def _parse_field_selector(selector: str) -> list[tuple[str, str, str]]:
    """fields.ParseSelector: comma-separated `key=value`, `key==value`, `key!=value` terms."""
    terms = []
    for part in _split_unescaped(selector, ","):
        if not part:
            continue
        for op in ("!=", "==", "="):
            idx = _find_unescaped(part, op)
            if idx >= 0:
                terms.append((part[:idx].strip(), op, _unescape(part[idx + len(op):])))
                break
        else:
            raise ValueError(f"invalid selector: {part!r}")
    return terms


def _exact_field(terms: list[tuple[str, str, str]], key: str) -> str:
    for term_key, op, value in terms:
        if term_key == key and op in ("=", "=="):
            return value
    return ""


def _split_unescaped(text: str, sep: str) -> list[str]:
    out, cur, escaped = [], [], False
    for ch in text:
        if escaped:
            cur.append("\\" + ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == sep:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return out


def _find_unescaped(text: str, op: str) -> int:
    i = 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text.startswith(op, i):
            return i
        i += 1
    return -1


def _unescape(value: str) -> str:
    return value.replace("\\,", ",").replace("\\=", "=").replace("\\\\", "\\")


def is_long_running(attrs: RequestAttributes) -> bool:
    """kube-apiserver's long-running check: verbs watch/proxy, subresources attach, exec,
    proxy, log, portforward on resource requests, and non-resource /debug/pprof/*."""
    if attrs.verb in LONG_RUNNING_VERBS:
        return True
    if attrs.is_resource_request:
        return attrs.subresource in LONG_RUNNING_SUBRESOURCES
    return attrs.path.startswith("/debug/pprof/")


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    query: tuple[tuple[str, str], ...] = ()

    def uri(self) -> str:
        if not self.query:
            return self.path
        return self.path + "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in self.query)


def to_http(attrs: RequestAttributes, watch_timeout_seconds: int = 1) -> HttpRequest:
    """An HTTP request that the apiserver parses back into `attrs` (see parse_request).

    Bodies do not affect the audit level or stages, so a sender may post `{}`: a create that
    fails validation is audited at the same level with the same stages. Watches carry
    timeoutSeconds so they end by themselves.
    """
    if not attrs.is_resource_request:
        return HttpRequest(attrs.verb.upper(), attrs.path)
    base = "/api/" + attrs.api_version if not attrs.api_group else f"/apis/{attrs.api_group}/{attrs.api_version}"
    verb = attrs.verb
    query: list[tuple[str, str]] = []
    name_in_path = verb not in ("list", "watch", "deletecollection")
    if verb in ("list", "watch") and attrs.name:
        query.append(("fieldSelector", f"metadata.name={attrs.name}"))
    if verb == "watch":
        query += [("watch", "1"), ("timeoutSeconds", str(watch_timeout_seconds))]
    segs: list[str] = []
    if verb == "proxy":
        segs.append("proxy")
    if attrs.resource == "namespaces":
        segs.append("namespaces")
        if attrs.name and name_in_path:
            segs.append(attrs.name)
    else:
        if attrs.namespace:
            segs += ["namespaces", attrs.namespace]
        segs.append(attrs.resource)
        if attrs.name and name_in_path:
            segs.append(attrs.name)
    if attrs.subresource:
        segs.append(attrs.subresource)
    method = _VERB_METHODS.get(verb, "GET")
    return HttpRequest(method, base + "/" + "/".join(quote(s, safe="") for s in segs), tuple(query))


def describe(attrs: RequestAttributes) -> str:
    """One line naming a request, e.g. `alice (platform-admins) create secrets in production`."""
    groups = [g for g in attrs.groups if g not in ("system:authenticated", "system:unauthenticated")]
    who = attrs.user if attrs.authenticated else "(unauthenticated)"
    if groups:
        who += f" ({', '.join(groups)})"
    if not attrs.is_resource_request:
        return f"{who} {attrs.verb.upper()} {attrs.path}"
    what = attrs.resource + (f"/{attrs.subresource}" if attrs.subresource else "")
    if attrs.api_group:
        what = f"{attrs.api_group}/{what}"
    if attrs.name:
        what += f" {attrs.name!r}"
    where = f" in namespace {attrs.namespace}" if attrs.namespace and attrs.resource != "namespaces" else ""
    return f"{who} {attrs.verb} {what}{where}"
