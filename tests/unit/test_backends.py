"""Backends without a cluster: kubeconfig reading, which classes a user may send, which
measurements each backend runs, the receiver an external cluster points at, inert objects."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench.backends import kubeconfig
from bench.backends.base import Capabilities, measurements_for
from bench.backends.external import identities, load_receiver_dir, write_receiver_dir
from bench.controlplane import pki
from bench.controlplane.http import Client
from bench.errors import EnvironmentProblem, InputError
from bench.measure.variant import MEASUREMENTS
from bench.traffic import access, bodies, fixtures
from bench.traffic.catalog import CLASSES
from bench.traffic.layout import Layout
from bench.traffic.profiles import load_profile


@pytest.fixture(scope="module")
def ca_pem() -> bytes:
    return pki.cert_pem(pki.make_ca("test-ca").cert)


def write_kubeconfig(path: Path, ca_pem: bytes, user: dict[str, Any], server: str = "https://127.0.0.1:6443",
                     **cluster: Any) -> Path:
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": "dev",
           "clusters": [{"name": "k", "cluster": {"server": server,
                                                  "certificate-authority-data": base64.b64encode(ca_pem).decode(),
                                                  **cluster}}],
           "users": [{"name": "me", "user": user}],
           "contexts": [{"name": "dev", "context": {"cluster": "k", "user": "me"}},
                        {"name": "other", "context": {"cluster": "k", "user": "me"}}]}
    path.write_text(yaml.safe_dump(doc))
    return path


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


# --- kubeconfig ---------------------------------------------------------------------------------
def test_token_user(tmp_path: Path, ca_pem: bytes) -> None:
    kc = write_kubeconfig(tmp_path / "kc", ca_pem, {"token": "abc123"})
    t = kubeconfig.load(kc, None, tmp_path / "work")
    assert (t.context, t.server, t.credentials.token, t.cert) == ("dev", "https://127.0.0.1:6443", "abc123", None)
    assert t.ca_file.read_bytes() == ca_pem
    assert _mode(tmp_path / "work") == 0o700
    assert "abc123" not in json.dumps(t.describe())  # the result records how, never the secret


def test_token_file_and_relative_paths(tmp_path: Path, ca_pem: bytes) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "tok").write_text("from-file\n")
    (tmp_path / "sub" / "ca.pem").write_bytes(ca_pem)
    kc = write_kubeconfig(tmp_path / "sub" / "kc", ca_pem, {"tokenFile": "tok"})
    doc = yaml.safe_load(kc.read_text())
    doc["clusters"][0]["cluster"] = {"server": "https://[::1]:6443", "certificate-authority": "ca.pem"}
    kc.write_text(yaml.safe_dump(doc))
    t = kubeconfig.load(kc, "other", tmp_path / "work")  # relative to the kubeconfig's dir, as kubectl
    assert t.credentials.token == "from-file" and t.context == "other" and t.ca_file.read_bytes() == ca_pem


def test_client_certificate_data_is_written_private(tmp_path: Path, ca_pem: bytes) -> None:
    kc = write_kubeconfig(tmp_path / "kc", ca_pem, {"client-certificate-data": base64.b64encode(b"CERT").decode(),
                                                    "client-key-data": base64.b64encode(b"KEY").decode()})
    t = kubeconfig.load(kc, None, tmp_path / "work")
    assert t.credentials.token is None and t.cert is not None
    cert, key = (Path(p) for p in t.cert)
    assert cert.read_bytes() == b"CERT" and key.read_bytes() == b"KEY"
    assert _mode(cert) == 0o600 and _mode(key) == 0o600


def test_exec_plugin_runs_once_non_interactive(tmp_path: Path, ca_pem: bytes) -> None:
    plugin = tmp_path / "get-token"
    plugin.write_text("#!/bin/sh\necho \"$KUBERNETES_EXEC_INFO\" > \"$0.info\"\n"
                      "echo '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
                      "\"status\":{\"token\":\"exec-'$EXTRA'\",\"expirationTimestamp\":\"2030-01-01T00:00:00Z\"}}'\n")
    plugin.chmod(0o755)
    kc = write_kubeconfig(tmp_path / "kc", ca_pem, {"exec": {
        "apiVersion": "client.authentication.k8s.io/v1", "command": "./get-token", "args": [],
        "env": [{"name": "EXTRA", "value": "tok"}], "provideClusterInfo": True, "interactiveMode": "Never"}})
    t = kubeconfig.load(kc, None, tmp_path / "work")
    assert t.credentials.token == "exec-tok" and t.credentials.expires_at == "2030-01-01T00:00:00Z"
    assert t.credentials.source == "exec: get-token"
    info = json.loads((tmp_path / "get-token.info").read_text())
    assert info["spec"]["interactive"] is False and info["spec"]["cluster"]["server"] == "https://127.0.0.1:6443"


def test_exec_plugin_failure_is_an_environment_problem(tmp_path: Path, ca_pem: bytes) -> None:
    plugin = tmp_path / "broken"
    plugin.write_text("#!/bin/sh\necho 'token expired, run sso login' >&2\nexit 3\n")
    plugin.chmod(0o755)
    kc = write_kubeconfig(tmp_path / "kc", ca_pem, {"exec": {"command": str(plugin)}})
    with pytest.raises(EnvironmentProblem, match="exit 3") as err:
        kubeconfig.load(kc, None, tmp_path / "work")
    assert "sso login" in (err.value.hint or "")


def test_remote_server_needs_the_opt_in(tmp_path: Path, ca_pem: bytes) -> None:
    kc = write_kubeconfig(tmp_path / "kc", ca_pem, {"token": "x"}, server="https://k8s.example.com:6443")
    with pytest.raises(InputError) as err:
        kubeconfig.load(kc, None, tmp_path / "work")
    assert err.value.field == "clusters[k].cluster.server" and "--allow-remote" in err.value.reason
    # The opt-in only lifts the refusal; nothing is contacted by loading.
    assert kubeconfig.load(kc, None, tmp_path / "work", allow_remote=True).allow_remote


def test_the_harness_client_refuses_remote_servers_unless_allowed(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="non-loopback"):
        Client("https://10.0.0.1:6443", str(tmp_path / "ca"))
    Client("https://10.0.0.1:6443", str(tmp_path / "ca"), allow_remote=True).close()  # no connection made


def test_identities_all_carry_the_kubeconfig_credentials() -> None:
    ids = identities("tok")
    assert {i.name for i in ids} >= {"admin", "alice", "bob", "deploy-bot", "node", "controller", "prometheus"}
    assert {i.token for i in ids} == {"tok"}
    assert {i.token for i in identities(None)} == {""}  # client certificate: no bearer header


# --- which classes a user may send --------------------------------------------------------------
def test_every_class_has_checks_that_render() -> None:
    for cls in CLASSES:
        checks = access.checks_for(cls)
        assert checks, cls
        for c in checks:
            spec = c.spec("ns")
            assert ("resourceAttributes" in spec) != ("nonResourceAttributes" in spec)


def test_checks_mirror_what_the_traffic_sends() -> None:
    assert access.checks_for("pods.exec") == (access.Check("create", "pods", "exec"),)
    assert access.Check("create", "secrets") in access.checks_for("secrets.delete")  # a delete may create first
    assert access.Check("bind", "clusterroles", name="cluster-admin") in access.checks_for("clusterrolebindings.create")
    assert access.checks_for("health.readyz") == (access.Check("get", path="/readyz"),)
    spec = access.Check("create", "pods", "exec").spec("ab-1-production")["resourceAttributes"]
    assert spec == {"verb": "create", "group": "", "resource": "pods", "subresource": "exec", "namespace": "ab-1-production"}
    assert "namespace" not in access.Check("create", "nodes").spec("x")["resourceAttributes"]


def test_plan_leaves_out_denied_classes_and_what_reads_missing_seeds() -> None:
    answers = {c: True for c in access.all_checks()}
    answers[access.Check("create", "leases")] = False
    plan = access.plan(answers, cluster_writes=True)
    assert "lease" in plan.skipped_seeds and "lease" not in plan.seeds
    assert plan.left_out["leases.update"].startswith("denied: create leases")
    assert "reads seed leases" in plan.left_out["leases.get"]  # allowed, but its seed cannot exist
    assert "nodes.patch" in plan.allowed and "node" in plan.seeds
    everything = access.plan({c: True for c in access.all_checks()}, cluster_writes=True)
    assert set(everything.allowed) == set(CLASSES) and not everything.left_out


def test_cluster_scoped_writes_are_opt_in() -> None:
    plan = access.plan({c: True for c in access.all_checks()}, cluster_writes=False)
    assert access.CLUSTER_WRITES <= set(plan.left_out)
    assert "node" in plan.skipped_seeds and "nodes.get" in plan.left_out  # it reads the seed nodes
    assert "namespaces.create" in plan.allowed  # ab-<run>-* namespaces are the run's own


def test_profile_without_classes() -> None:
    mixed = load_profile("mixed")
    less = mixed.without({"nodes.get", "nodes.patch", "not-in-it"})
    assert "nodes.get" not in less.classes and less.classes["pods.get"] == mixed.classes["pods.get"]
    assert mixed.without(set()) is mixed
    with pytest.raises(InputError, match="every class"):
        mixed.without(set(mixed.classes))


# --- inert objects and a narrowed set-up ----------------------------------------------------------
def test_inert_pods_and_nodes_differ_only_where_a_real_cluster_would_act() -> None:
    assert "schedulerName" not in bodies.pod("p")["spec"]  # the local backend's bodies are unchanged
    inert = bodies.pod("p", inert=True)
    assert inert["spec"]["schedulerName"] == bodies.NO_SCHEDULER
    assert {k: v for k, v in inert["spec"].items() if k != "schedulerName"} == bodies.pod("p")["spec"]
    node = bodies.node("n", inert=True)
    assert node["spec"]["unschedulable"] is True and node["spec"]["taints"][0]["effect"] == "NoExecute"
    assert "spec" not in bodies.node("n")


class _Recorder:
    def __init__(self) -> None:
        self.posts: list[str] = []

    def post(self, path: str, body: Any) -> Any:
        from bench.controlplane.http import Response

        self.posts.append(path)
        return Response(201, b"{}")

    def get(self, path: str) -> Any:
        from bench.controlplane.http import Response

        return Response(200, b"{}")


def test_setup_creates_only_the_seeds_in_scope(tmp_path: Path) -> None:
    from bench.traffic.canary import CanaryFile

    layout = Layout("ab-abcdef", seeds=1)
    full, narrow = _Recorder(), _Recorder()
    fixtures.setup(full, layout, CanaryFile(tmp_path / "a.txt"))  # type: ignore[arg-type]
    fixtures.setup(narrow, layout, CanaryFile(tmp_path / "b.txt"),  # type: ignore[arg-type]
                   fixtures.Scope(seeds=frozenset({"secret", "pod"}), inert=True, wait_sa=False))
    assert any(p.endswith("/leases") for p in full.posts) and "/api/v1/nodes" in full.posts
    kinds = {p.rsplit("/", 1)[1] for p in narrow.posts if p != "/api/v1/namespaces"}
    assert kinds == {"secrets", "pods"}


# --- measurements per backend ----------------------------------------------------------------------
LOCAL = Capabilities(process=True, metrics=True, audit_log=True, webhook=True, component_logs=True,
                     sigterm_flush=True, audit_settings="variant")


def test_local_runs_every_measurement() -> None:
    assert measurements_for(MEASUREMENTS, LOCAL) == list(MEASUREMENTS)


def test_measurements_follow_the_capabilities() -> None:
    bare = Capabilities(process=False, metrics=False, audit_log=False, webhook=False, component_logs=False,
                        sigterm_flush=False, audit_settings="as-configured")
    # nothing to search for canaries either; growth figures come from the client samples
    assert measurements_for(MEASUREMENTS, bare) == ["client", "growth"]
    kind = Capabilities(process=False, metrics=True, audit_log=True, webhook=False, component_logs=False,
                        sigterm_flush=False, audit_settings="variant")
    assert measurements_for(MEASUREMENTS, kind) == ["apiserver_metrics", "client", "audit_log", "growth", "canaries"]


def test_no_metrics_bracket_is_not_a_flag_where_metrics_cannot_be_read() -> None:
    from bench.measure.variant import judge

    def doc(measured: list[str]) -> dict[str, Any]:
        return {"_died": [], "_errors": [], "_measured": measured, "variant_id": "v", "variant": {"policy": "p"},
                "traffic": {"requests": 10, "error_rate": 0.0, "failures": 0, "errors_by_code": {}},
                "audit": {"canaries": {}, "reconciliation": {}}, "apiserver": {}, "metrics_bracket": None}

    without = doc(["client"])
    judge(without, 0.01)
    assert without["flags"] == [] and "status" not in without  # judged ok
    with_metrics = doc(["client", "apiserver_metrics"])
    judge(with_metrics, 0.01)
    assert any("no /metrics bracket" in f for f in with_metrics["flags"])


# --- the receiver an external cluster's webhook points at -------------------------------------------
def test_receiver_dir_has_a_self_contained_webhook_kubeconfig(tmp_path: Path) -> None:
    spec = write_receiver_dir(tmp_path / "r", "127.0.0.1", 19443)
    again = load_receiver_dir(tmp_path / "r")
    assert (again.host, again.port, again.url) == ("127.0.0.1", 19443, "https://127.0.0.1:19443/audit")
    doc = yaml.safe_load(spec.kubeconfig.read_text())
    cluster = doc["clusters"][0]["cluster"]
    assert cluster["server"] == spec.url and "certificate-authority" not in cluster
    assert base64.b64decode(cluster["certificate-authority-data"]) == (spec.pki_dir / "ca.crt").read_bytes()
    assert f"--audit-webhook-config-file={spec.kubeconfig}" in spec.apiserver_flags()
    assert _mode(spec.pki_dir / "receiver.key") == 0o600 and _mode(spec.pki_dir) == 0o700
    with pytest.raises(InputError, match="refusing"):
        write_receiver_dir(tmp_path / "p", "0.0.0.0", 19443)
    assert not os.path.exists(tmp_path / "p" / "receiver.json")
