"""Before traffic reaches a cluster auditbench does not own: what will and will not be measured.

Asked of the cluster itself, as the kubeconfig's user:

- /version (reachable, CA right) and SelfSubjectReview (who the cluster says we are);
- SelfSubjectAccessReview for every check of every request class (bench.traffic.access), for
  the run's namespaces, /metrics and what set-up needs; SelfSubjectRulesReview once, for the
  record (its ``incomplete`` says an authorizer could not list its rules, e.g. a webhook: the
  per-check answers above are the ones that count);
- /metrics actually read; the audit log path read, and a marker request looked for in it;
- the webhook: a receiver started on the configured address and a marker looked for in what
  arrives.

Nothing here changes the cluster: reviews and GETs only.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.backends import marker
from bench.controlplane.http import Client
from bench.errors import EnvironmentProblem
from bench.traffic import access
from bench.traffic.catalog import CLASSES

_AUTHZ = "/apis/authorization.k8s.io/v1"


@dataclass
class Check:
    """One row of the table: something measured (or not), and why."""

    what: str
    measured: bool | None  # None: information, not a measurement
    detail: str


@dataclass
class Preflight:
    server: str
    server_version: str
    username: str
    groups: list[str]
    plan: access.Plan
    answers: dict[str, bool]  # check label -> allowed
    rules_review: dict[str, Any]
    metrics: bool
    metrics_detail: str
    audit_log: Path | None
    audit_log_ok: bool
    audit_log_detail: str
    webhook_ok: bool
    webhook_detail: str
    sa_wait: bool  # may read ServiceAccounts: wait for each namespace's default one
    cluster_writes: bool
    rows: list[Check] = field(default_factory=list)

    def not_measured(self) -> list[str]:
        return [f"{r.what}: {r.detail}" for r in self.rows if r.measured is False]

    def as_dict(self) -> dict[str, Any]:
        return {
            "server_version": self.server_version, "username": self.username, "groups": self.groups,
            "identities": f"all traffic as {self.username}: the profile's identities are labels only",
            "classes_allowed": list(self.plan.allowed), "classes_left_out": self.plan.left_out,
            "seeds": list(self.plan.seeds), "seeds_skipped": self.plan.skipped_seeds,
            "rules_review": self.rules_review, "metrics": self.metrics, "audit_log": str(self.audit_log) if self.audit_log else None,
            "audit_log_ok": self.audit_log_ok, "webhook_ok": self.webhook_ok, "cluster_scoped_writes": self.cluster_writes,
            "table": [asdict(r) for r in self.rows], "not_measured": self.not_measured(),
        }


def version(client: Client) -> str:
    resp = client.get("/version")
    if resp.status != 200:
        raise EnvironmentProblem(f"GET {client.server}/version answered HTTP {resp.status}",
                                 "are the kubeconfig's credentials valid for this cluster?")
    return str(resp.json().get("gitVersion") or "unknown")


def whoami(client: Client) -> tuple[str, list[str]]:
    resp = client.post("/apis/authentication.k8s.io/v1/selfsubjectreviews",
                       {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
    if resp.status != 201 and resp.status != 200:
        return "(unknown: SelfSubjectReview needs Kubernetes 1.28)", []
    info = resp.json().get("status", {}).get("userInfo", {})
    return str(info.get("username") or "(unknown)"), list(info.get("groups") or [])


def allowed(client: Client, check: access.Check, namespace: str) -> bool:
    resp = client.post(f"{_AUTHZ}/selfsubjectaccessreviews", {
        "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "spec": check.spec(namespace)})
    if resp.status != 201 and resp.status != 200:
        raise EnvironmentProblem(f"SelfSubjectAccessReview answered HTTP {resp.status}",
                                 resp.body[:200].decode(errors="replace"))
    return bool(resp.json().get("status", {}).get("allowed"))


def rules_review(client: Client, namespace: str) -> dict[str, Any]:
    resp = client.post(f"{_AUTHZ}/selfsubjectrulesreviews", {
        "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview", "spec": {"namespace": namespace}})
    if resp.status != 201 and resp.status != 200:
        return {"error": f"HTTP {resp.status}"}
    st = resp.json().get("status", {})
    return {"resource_rules": len(st.get("resourceRules") or []), "non_resource_rules": len(st.get("nonResourceRules") or []),
            "incomplete": bool(st.get("incomplete")), "evaluation_error": st.get("evaluationError") or None}


def read_metrics(client: Client) -> tuple[bool, str]:
    resp = client.get("/metrics")
    if resp.status != 200:
        return False, f"GET /metrics answered HTTP {resp.status}"
    if b"apiserver_request_total" not in resp.body:
        return False, "GET /metrics answered, but without apiserver_request_total (not a kube-apiserver?)"
    return True, "server latency, audit counters and apiserver CPU (process_cpu_seconds_total over the scrape bracket)"


def check_log(client: Client, path: Path | None, prefix: str, wait_s: float) -> tuple[bool, str]:
    if path is None:
        return False, "no --audit-log given: no log volume (bytes, events by level, stage, resource)"
    if not path.is_file():
        return False, f"{path} is not a file"
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        return False, f"{path} is not readable here ({exc.strerror})"
    tail = marker.Tail(path)
    name = marker.send(client, prefix, "log")
    seen = marker.wait_for(tail, name, wait_s)
    if seen is None:
        return False, (f"{path} is readable, but a marker request (GET secrets {name}) did not appear in it "
                       f"within {wait_s:.0f}s: not this cluster's log, or its policy does not log secret reads")
    return True, f"{path}: marker request seen after {seen:.1f}s"


def check_webhook(client: Client, spec: Any, prefix: str, wait_s: float, scratch: Path) -> tuple[bool, str]:
    """``spec``: bench.backends.external.ReceiverSpec or None."""
    if spec is None:
        return False, "no --webhook-receiver given: no webhook delivery figures (`auditbench external receiver` prints the flags)"
    from bench.webhook.receiver import Receiver

    receiver = Receiver.start_in(scratch, host=spec.host, port=spec.port, pki_dir=spec.pki_dir)
    try:
        tail = marker.Tail(receiver.capture_path)
        name = marker.send(client, prefix, "webhook")
        seen = marker.wait_for(tail, name, wait_s)
    finally:
        receiver.stop()
    if seen is None:
        return False, (f"no batch with a marker request reached {receiver.url} within {wait_s:.0f}s: is the "
                       "cluster's --audit-webhook-config-file pointed at it (and --audit-webhook-batch-max-wait below that)?")
    return True, f"{receiver.url}: marker request arrived after {seen:.1f}s"


def run(client: Client, *, prefix: str, audit_log: Path | None, receiver: Any, cluster_writes: bool,
        wait_s: float, scratch: Path) -> Preflight:
    server_version = version(client)
    username, groups = whoami(client)
    namespace = f"{prefix}-production"  # does not exist yet: only cluster-wide grants count, as for the run
    answers = {c: allowed(client, c, namespace) for c in access.all_checks()}
    missing = [c.label() for c in access.NAMESPACE_CHECKS if not answers[c]]
    if missing:
        raise EnvironmentProblem(f"{username} may not {', '.join(missing)}: the traffic lives in its own "
                                 f"{prefix}-* namespaces, created and deleted by the run",
                                 "use a kubeconfig user with those rights")
    plan = access.plan(answers, cluster_writes)
    if not plan.allowed:
        raise EnvironmentProblem(f"{username} may send none of the traffic's request classes")
    metrics_ok, metrics_detail = (read_metrics(client) if answers[access.METRICS_CHECK]
                                  else (False, "get /metrics denied: no server latency, audit counters or apiserver CPU"))
    log_ok, log_detail = check_log(client, audit_log, prefix, wait_s)
    hook_ok, hook_detail = check_webhook(client, receiver, prefix, wait_s, scratch)
    pre = Preflight(client.server, server_version, username, groups, plan, {c.label(): v for c, v in answers.items()},
                    rules_review(client, namespace), metrics_ok, metrics_detail, audit_log, log_ok, log_detail,
                    hook_ok, hook_detail, answers[access.SA_CHECK], cluster_writes)
    pre.rows = table_rows(pre)
    return pre


def table_rows(p: Preflight) -> list[Check]:
    n = len(CLASSES)
    rows = [
        Check("cluster", None, f"{p.server}, Kubernetes {p.server_version}"),
        Check("audit settings", None, "as configured: auditbench never changes them (policy axis 'as-configured')"),
        Check("traffic identity", None, f"all traffic as {p.username}"
              + (f" ({', '.join(p.groups[:3])}{', …' if len(p.groups) > 3 else ''})" if p.groups else "")
              + ": the profile's identities are labels; rules on users or groups see this user"),
        Check("traffic classes", True, f"{len(p.plan.allowed)} of {n} may be sent"
              + (f"; {len(p.plan.left_out)} left out (below)" if p.plan.left_out else "")),
    ]
    by_reason: dict[str, list[str]] = {}
    for cls, reason in p.plan.left_out.items():
        by_reason.setdefault(reason, []).append(cls)
    for reason, classes in sorted(by_reason.items()):
        rows.append(Check("  left out", False, f"{', '.join(classes)}: {reason}"))
    if p.plan.skipped_seeds:
        rows.append(Check("  seed objects", False, "; ".join(f"{k}: {v}" for k, v in p.plan.skipped_seeds.items())))
    rr = p.rules_review
    if "error" not in rr:
        rows.append(Check("rules review", None, f"{rr['resource_rules']} resource and {rr['non_resource_rules']} "
                          f"non-resource rules{'; incomplete (an authorizer cannot list its rules)' if rr['incomplete'] else ''}"))
    rows += [
        Check("/metrics", p.metrics, p.metrics_detail),
        Check("apiserver CPU from /proc", False, "not a process on this machine (the /metrics figure includes "
              "the cluster's own load)"),
        Check("etcd CPU and memory", False, "etcd is not reachable from here"),
        Check("audit log", p.audit_log_ok, p.audit_log_detail),
        Check("webhook → receiver", p.webhook_ok, p.webhook_detail),
        Check("SIGTERM flush", False, "the apiserver keeps running: after the traffic, its sinks are waited for "
              "(a marker request), not flushed"),
        Check("cluster's own traffic", None, "counted apart by user agent in log and webhook figures; "
              "included in /metrics latency and CPU"),
    ]
    if not p.sa_wait:
        rows.append(Check("default ServiceAccount", False, "get serviceaccounts denied: pods are created without "
                          "waiting for it (early pod creates may fail)"))
    return rows


def wait_ready(client: Client, timeout_s: float = 30.0) -> float:
    """Seconds until /readyz answers 200 (raises after ``timeout_s``)."""
    start = time.monotonic()
    last = ""
    while time.monotonic() - start < timeout_s:
        try:
            resp = client.get("/readyz")
            if resp.status == 200:
                return time.monotonic() - start
            last = f"HTTP {resp.status}"
        except OSError as exc:
            last = str(exc)
        except Exception as exc:  # urllib3 errors  # noqa: BLE001
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.5)
    raise EnvironmentProblem(f"{client.server}/readyz did not answer 200 within {timeout_s:.0f}s ({last})")
