"""`auditbench demo`: a real cluster under the article's policy, a few requests, their audit events.

A quick look at the audit pipeline; the benchmark proper is `auditbench run`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from bench.controlplane.audit import AuditSettings
from bench.controlplane.local import LocalCluster
from bench.logs.reader import log_events, log_files
from bench.measure.canary import scan
from bench.traffic.canary import new_canary
from bench.paths import project_root


def _api(cluster: LocalCluster, identity: str):
    """A `kubernetes` client acting as one of the test identities."""
    from kubernetes import client

    cfg = client.Configuration()
    cfg.host = cluster.server
    cfg.ssl_ca_cert = str(cluster.ca_file)
    cfg.api_key = {"authorization": "Bearer " + cluster.identity(identity).token}
    return client.ApiClient(cfg)


def run_demo(echo: Callable[[str], None] = print) -> list[dict]:
    from kubernetes import client

    policy = project_root() / "policies" / "seed-production.yaml"
    with LocalCluster(audit=AuditSettings(policy=policy)) as cluster:
        echo(f"cluster ready in {cluster.timings.total_s:.2f}s at {cluster.server}; audit log {cluster.audit_log_path}")
        marker = "demo-" + uuid.uuid4().hex[:6]
        admin, bob, alice = (_api(cluster, n) for n in ("admin", "bob", "alice"))
        core_admin = client.CoreV1Api(admin)
        core_admin.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=marker)))
        secret_value = new_canary()
        core_admin.create_namespaced_secret(marker, client.V1Secret(
            metadata=client.V1ObjectMeta(name="db-password"), string_data={"password": secret_value}))
        client.CoreV1Api(bob).read_namespaced_secret("db-password", marker)  # a human reads a secret
        client.CoreV1Api(bob).list_namespaced_pod(marker)
        client.RbacAuthorizationV1Api(alice).create_cluster_role_binding(client.V1ClusterRoleBinding(
            metadata=client.V1ObjectMeta(name=marker + "-admin"),
            role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="cluster-admin"),
            subjects=[client.RbacV1Subject(api_group="rbac.authorization.k8s.io", kind="User", name="mallory")]))
        client.VersionApi(admin).get_code()
        core_admin.delete_namespace(marker)
        time.sleep(0.5)  # ResponseComplete events are written just after the response
        ours = [
            e for e in log_events(cluster.audit_log_path)
            if marker in e.get("requestURI", "") or marker in str((e.get("objectRef") or {}).get("name", ""))
            or (e.get("objectRef") or {}).get("namespace") == marker
        ]
        for e in ours:
            ref = e.get("objectRef") or {}
            what = "/".join(x for x in (ref.get("namespace"), ref.get("resource"), ref.get("subresource"), ref.get("name")) if x)
            body = "+request" if "requestObject" in e else ""
            body += "+response" if "responseObject" in e else ""
            echo(f"{e['stage']:<17} {e['level']:<15} {e['user']['username']:<18} {e['verb']:<7} {what or e['requestURI']} {body}")
        leaks = scan([secret_value], log_files(cluster.audit_log_path))["leaked"]
        echo(f"{len(ours)} audit events for the demo's requests; secret value in the audit log: "
             + ("FOUND in " + ", ".join(leaks) if leaks else "no"))
        if leaks:
            raise RuntimeError("the audit log contains a secret value")
        for api in (admin, bob, alice):
            api.close()
    echo("cluster stopped")
    return ours
