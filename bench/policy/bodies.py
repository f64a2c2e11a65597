"""Which request carries which body into its audit event, at which level.

The level decides whether a body is logged at all (requestObject from Request up,
responseObject at RequestResponse only); the verb decides what that body is. From
k8s.io/apiserver v0.37.2 (endpoints/handlers, audit/request.go), checked against the
real apiserver by tests/integration/test_body_model_live.py:

- request bodies: create and update send the object, patch sends the patch; delete and
  deletecollection send only DeleteOptions (no object data); get, list and watch send no
  body at all, and connect verbs (proxy, exec, ...) have no logged body;
- response bodies: get, list, create, update and patch answer with the object (or list);
  delete answers with the object when it is not gone yet (a finalizer) or a Status;
  deletecollection answers with the list of deleted objects; a watch's stream is never
  logged (its event has no responseObject).

So object data (a secret's values) reaches an audit log at Request only through
create/update/patch, and at RequestResponse through every verb's response but watch.
"""

from __future__ import annotations

from bench.policy.model import LEVEL_RANK

# verb -> what its logged request body is (verbs not listed log none)
REQUEST_BODY: dict[str, str] = {
    "create": "the object",
    "update": "the object",
    "patch": "the patch",
    "delete": "DeleteOptions",
    "deletecollection": "DeleteOptions",
}
# verb -> what its logged response body is (verbs not listed log none)
RESPONSE_BODY: dict[str, str] = {
    "get": "the object",
    "list": "the list",
    "create": "the object",
    "update": "the object",
    "patch": "the object",
    "delete": "the object (while finalizers keep it) or a Status",
    "deletecollection": "the deleted objects",
}
# Verbs whose logged request body holds object data (not just options).
REQUEST_DATA_VERBS: frozenset[str] = frozenset({"create", "update", "patch"})
RESPONSE_DATA_VERBS: frozenset[str] = frozenset(RESPONSE_BODY)


def request_data_logged(verb: str, level: str) -> bool:
    """The request body holds object data and the level logs it."""
    return verb in REQUEST_DATA_VERBS and LEVEL_RANK[level] >= LEVEL_RANK["Request"]


def response_data_logged(verb: str, level: str) -> bool:
    """The response body holds object data and the level logs it."""
    return verb in RESPONSE_DATA_VERBS and level == "RequestResponse"


def object_data_logged(verb: str, level: str) -> bool:
    return request_data_logged(verb, level) or response_data_logged(verb, level)


def no_data_reason(verb: str, level: str) -> str | None:
    """Why a request with this verb logs no object data at ``level`` (None when it may)."""
    if object_data_logged(verb, level) or LEVEL_RANK[level] < LEVEL_RANK["Request"]:
        return None
    if level == "Request" and REQUEST_BODY.get(verb) == "DeleteOptions":
        return "send only DeleteOptions"
    if verb == "watch" and level == "RequestResponse":
        return "a watch stream is not logged"
    if verb in ("get", "list", "watch"):
        return "send no body"
    return None  # proxy and the like: no logged body, nothing worth saying


def explain_no_data(verbs: set[str] | frozenset[str], level: str) -> str:
    """E.g. "delete, deletecollection: send only DeleteOptions; get, list, watch: send no body"."""
    by_reason: dict[str, list[str]] = {}
    for verb in sorted(verbs):
        reason = no_data_reason(verb, level)
        if reason:
            by_reason.setdefault(reason, []).append(verb)
    return "; ".join(f"{', '.join(vs)}: {reason}" for reason, vs in by_reason.items())
