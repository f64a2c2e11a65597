"""Hand-written bad input, each through `auditbench`'s main: one line naming the file (or the
command line) and the field, exit 2, never a traceback.

Scenarios are checked with `run --check`, which runs the whole pre-flight check that
`run` does before any cluster starts; policies with `policy lint`; logs with the
commands that read them; flags with the commands that take them.
"""

from __future__ import annotations

import gzip
import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench.paths import project_root
from tests.cliutil import assert_one_line_error, run_main

POLICIES = project_root() / "policies"
GOOD_POLICY = str(POLICIES / "metadata-all.yaml")
BASE: dict[str, Any] = {"name": "t", "policies": ["metadata-all"], "traffic": {"users": 2, "duration": "5s"}}


def scenario(**changes: Any) -> str:
    """BASE with dotted-path changes (``traffic__users=0``); a value of ``...`` deletes the key."""
    doc = json.loads(json.dumps(BASE))
    for path, value in changes.items():
        node = doc
        keys = path.split("__")
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        if value is ...:
            node.pop(keys[-1], None)
        else:
            node[keys[-1]] = value
    return yaml.safe_dump(doc)


def policy(rules: Any = None, **top: Any) -> str:
    doc = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", **top}
    doc["rules"] = [{"level": "Metadata"}] if rules is None else rules
    return yaml.safe_dump(doc)


def kubeconfig(server: str = "https://127.0.0.1:6443", user: Any = None, cluster: Any = None, **top: Any) -> str:
    """A kubeconfig with one context "c" (CA inline, token user), with changes."""
    ca = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n").decode()
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": "c",
           "clusters": [{"name": "k", "cluster": cluster or {"server": server, "certificate-authority-data": ca}}],
           "users": [{"name": "u", "user": {"token": "t0ken"} if user is None else user}],
           "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}], **top}
    return yaml.safe_dump(doc)


EVENT = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": "a1", "stage": "ResponseComplete",
         "requestURI": "/api/v1/pods", "verb": "list", "user": {"username": "alice"}}
LINE = json.dumps(EVENT)

# (id, files {name: text or bytes}, args (with {d} for the case's directory), fragments of the one line)
CASES: list[tuple[str, dict[str, str | bytes], list[str], list[str]]] = [
    # --- scenarios --------------------------------------------------------------------
    ("scenario-unknown-key", {"s.yaml": scenario(bogus=1)}, ["run", "{d}/s.yaml", "--check"], ["s.yaml", "bogus"]),
    ("scenario-bad-name", {"s.yaml": scenario(name="Bad Name")}, ["run", "{d}/s.yaml", "--check"], ["s.yaml", "name"]),
    ("scenario-no-policies", {"s.yaml": scenario(policies=...)}, ["run", "{d}/s.yaml", "--check"], ["s.yaml", "policies"]),
    ("scenario-missing-policy-file", {"s.yaml": scenario(policies=["metadata-all", "no-such"])},
     ["run", "{d}/s.yaml", "--check"], ["s.yaml", "policies[1]", "no-such.yaml"]),
    ("scenario-policy-bad-yaml", {"s.yaml": scenario(policies=["{d}/p.yaml"]), "p.yaml": "rules: [unclosed\n"},
     ["run", "{d}/s.yaml", "--check"], ["s.yaml", "policies[0]", "p.yaml", "invalid YAML"]),
    ("scenario-policy-bad-level", {"s.yaml": scenario(policies=["{d}/p.yaml"]), "p.yaml": policy([{"level": "Everything"}])},
     ["run", "{d}/s.yaml", "--check"], ["s.yaml", "policies[0]", "p.yaml", "rules[0].level"]),
    ("scenario-policy-no-rules", {"s.yaml": scenario(policies=["{d}/p.yaml"]), "p.yaml": policy([])},
     ["run", "{d}/s.yaml", "--check"], ["s.yaml", "policies[0]", "p.yaml", "0 rules"]),
    ("scenario-duplicate-policy", {"s.yaml": scenario(policies=["metadata-all", "metadata-all"])},
     ["run", "{d}/s.yaml", "--check"], ["s.yaml", "policies", "duplicate"]),
    ("scenario-legacy-format", {"s.yaml": scenario(audit__log__format="legacy")},
     ["run", "{d}/s.yaml", "--check"], ["s.yaml", "audit.log.format", "JSON lines"]),
    ("scenario-unknown-format", {"s.yaml": scenario(audit__log__format="xml")},
     ["run", "{d}/s.yaml", "--check"], ["s.yaml", "audit.log.format"]),
    ("scenario-negative-maxsize", {"s.yaml": scenario(audit__log__maxsize=-1)},
     ["run", "{d}/s.yaml", "--check"], ["s.yaml", "audit.log.maxsize"]),
    ("scenario-log-batch-without-batch-mode", {"s.yaml": scenario(audit__log__batch_max_size=10)},
     ["run", "{d}/s.yaml", "--check"], ["s.yaml", "audit.log", "batch_max_size"]),
    ("scenario-bad-webhook-mode", {"s.yaml": scenario(audit__webhook__enabled=True, audit__webhook__mode=["batch", "async"])},
     ["run", "{d}/s.yaml", "--check"], ["s.yaml", "audit.webhook.mode[1]"]),
    ("scenario-bad-batch-wait", {"s.yaml": scenario(audit__webhook__enabled=True, audit__webhook__batch_max_wait=["0s", "5x"])},
     ["run", "{d}/s.yaml", "--check"], ["s.yaml", "audit.webhook.batch_max_wait[1]"]),
    ("scenario-zero-throttle-qps", {"s.yaml": scenario(audit__webhook__enabled=True, audit__webhook__throttle={"qps": 0})},
     ["run", "{d}/s.yaml", "--check"], ["s.yaml", "audit.webhook.throttle.qps"]),
    ("scenario-faults-without-webhook", {"s.yaml": scenario(audit__webhook__receiver={"delay_ms": 50})},
     ["run", "{d}/s.yaml", "--check"], ["s.yaml", "audit.webhook", "receiver"]),
    ("scenario-empty-matrix", {"s.yaml": scenario(audit__log__enabled=False)},
     ["run", "{d}/s.yaml", "--check"], ["s.yaml", "audit", "matrix is empty"]),
    ("scenario-no-window", {"s.yaml": scenario(traffic__duration=...)},
     ["run", "{d}/s.yaml", "--check"], ["s.yaml", "traffic", "duration"]),
    ("scenario-requests-without-window", {"s.yaml": scenario(traffic__duration=..., traffic__requests=500)},
     ["run", "{d}/s.yaml", "--check"], ["s.yaml", "traffic.requests", "duration"]),
    ("scenario-requests-beyond-window",
     {"s.yaml": scenario(traffic={"mode": "open", "target_rps": 50, "duration": "30s", "requests": 3000})},
     ["run", "{d}/s.yaml", "--check"], ["s.yaml", "traffic.requests", "1m", "30s window"]),
    ("scenario-zero-window", {"s.yaml": scenario(traffic__duration="0s")},
     ["run", "{d}/s.yaml", "--check"], ["s.yaml", "traffic.duration"]),
    ("scenario-zero-users", {"s.yaml": scenario(traffic__users=0)}, ["run", "{d}/s.yaml", "--check"], ["s.yaml", "traffic.users"]),
    ("scenario-too-many-users", {"s.yaml": scenario(traffic__users=6000)},
     ["run", "{d}/s.yaml", "--check"], ["s.yaml", "traffic.users"]),
    ("scenario-long-warmup", {"s.yaml": scenario(traffic__warmup="2h")}, ["run", "{d}/s.yaml", "--check"], ["s.yaml", "traffic.warmup"]),
    ("scenario-unknown-profile", {"s.yaml": scenario(traffic__profiles=["mixed", "chaos"])},
     ["run", "{d}/s.yaml", "--check"], ["s.yaml", "traffic.profiles[1]", "chaos"]),
    ("scenario-rate-in-closed-loop", {"s.yaml": scenario(traffic__target_rps=10)},
     ["run", "{d}/s.yaml", "--check"], ["s.yaml", "traffic", "open-loop"]),
    ("scenario-timeout-below-window", {"s.yaml": scenario(timeout="6s")},
     ["run", "{d}/s.yaml", "--check"], ["s.yaml", "timeout", "time out"]),
    ("scenario-zero-repeats", {"s.yaml": scenario(repeats=0)}, ["run", "{d}/s.yaml", "--check"], ["s.yaml", "repeats"]),
    ("scenario-bad-gate", {"s.yaml": scenario(gates=["p99_latency_ratio>>1"])},
     ["run", "{d}/s.yaml", "--check"], ["s.yaml", "gates[0]"]),
    ("scenario-unknown-backend", {"s.yaml": scenario(backend="docker")}, ["run", "{d}/s.yaml", "--check"], ["s.yaml", "backend"]),
    ("scenario-external-baseline", {"s.yaml": scenario(backend="external", policies=..., baseline=True)},
     ["run", "{d}/s.yaml", "--check"], ["s.yaml", "baseline", "cannot turn auditing off"]),
    ("scenario-external-policy", {"s.yaml": scenario(backend="external", baseline=False)},
     ["run", "{d}/s.yaml", "--check"], ["s.yaml", "policies", "never changes"]),
    ("scenario-kind-options-on-local", {"s.yaml": scenario(kind={"image": "kindest/node:v1.37.0"})},
     ["run", "{d}/s.yaml", "--check"], ["s.yaml", "kind", "backend: kind"]),
    ("scenario-kind-capacity", {"s.yaml": scenario(backend="kind", capacity={"enabled": True})},
     ["run", "{d}/s.yaml", "--check"], ["s.yaml", "capacity", "local backend only"]),
    # --- the external backend: kubeconfig and flags ----------------------------------------
    ("measure-external-no-kubeconfig", {}, ["measure", "--backend", "external"], ["--kubeconfig"]),
    ("measure-kubeconfig-without-external", {"k.yaml": kubeconfig()},
     ["measure", "--policy", GOOD_POLICY, "--kubeconfig", "{d}/k.yaml"], ["--kubeconfig", "--backend external"]),
    ("measure-external-with-policy", {"k.yaml": kubeconfig()},
     ["measure", "--backend", "external", "--kubeconfig", "{d}/k.yaml", "--policy", GOOD_POLICY],
     ["--policy", "never changes the cluster's audit settings"]),
    ("measure-unknown-backend", {}, ["measure", "--backend", "docker", "--policy", GOOD_POLICY], ["--backend", "docker"]),
    ("external-flag-without-kubeconfig", {}, ["measure", "--policy", GOOD_POLICY, "--audit-log", "/var/log/a.log"],
     ["--audit-log", "external"]),
    ("kubeconfig-missing-file", {}, ["external", "preflight", "--kubeconfig", "{d}/none.yaml"], ["none.yaml", "--kubeconfig"]),
    ("kubeconfig-not-yaml", {"k.yaml": "clusters: [\n"}, ["external", "preflight", "--kubeconfig", "{d}/k.yaml"],
     ["k.yaml", "not YAML"]),
    ("kubeconfig-remote-server", {"k.yaml": kubeconfig("https://10.1.2.3:6443")},
     ["external", "preflight", "--kubeconfig", "{d}/k.yaml"], ["k.yaml", "clusters[k].cluster.server", "--allow-remote"]),
    ("kubeconfig-http-server", {"k.yaml": kubeconfig("http://127.0.0.1:8080")},
     ["external", "preflight", "--kubeconfig", "{d}/k.yaml"], ["k.yaml", "clusters[k].cluster.server", "https://"]),
    ("kubeconfig-unknown-context", {"k.yaml": kubeconfig()},
     ["external", "preflight", "--kubeconfig", "{d}/k.yaml", "--context", "staging"], ["k.yaml", "--context", "staging"]),
    ("kubeconfig-no-current-context", {"k.yaml": kubeconfig(**{"current-context": ""})},
     ["external", "preflight", "--kubeconfig", "{d}/k.yaml"], ["k.yaml", "current-context", "--context"]),
    ("kubeconfig-insecure", {"k.yaml": kubeconfig(cluster={"server": "https://127.0.0.1:6443", "insecure-skip-tls-verify": True})},
     ["external", "preflight", "--kubeconfig", "{d}/k.yaml"], ["k.yaml", "insecure-skip-tls-verify"]),
    ("kubeconfig-no-ca", {"k.yaml": kubeconfig(cluster={"server": "https://127.0.0.1:6443"})},
     ["external", "preflight", "--kubeconfig", "{d}/k.yaml"], ["k.yaml", "certificate-authority-data", "no CA"]),
    ("kubeconfig-ca-not-base64", {"k.yaml": kubeconfig(cluster={"server": "https://127.0.0.1:6443",
                                                               "certificate-authority-data": "%%%"})},
     ["external", "preflight", "--kubeconfig", "{d}/k.yaml"], ["k.yaml", "certificate-authority-data", "base64"]),
    ("kubeconfig-no-credentials", {"k.yaml": kubeconfig(user={})},
     ["external", "preflight", "--kubeconfig", "{d}/k.yaml"], ["k.yaml", "users[u].user", "no credentials"]),
    ("kubeconfig-auth-provider", {"k.yaml": kubeconfig(user={"auth-provider": {"name": "gcp"}})},
     ["external", "preflight", "--kubeconfig", "{d}/k.yaml"], ["k.yaml", "users[u].user.auth-provider", "exec"]),
    ("kubeconfig-cert-without-key", {"k.yaml": kubeconfig(user={"client-certificate-data": "QUJD"})},
     ["external", "preflight", "--kubeconfig", "{d}/k.yaml"], ["k.yaml", "users[u].user.client-key"]),
    ("kubeconfig-exec-missing-command", {"k.yaml": kubeconfig(user={"exec": {"command": "/nonexistent/get-token"}})},
     ["external", "preflight", "--kubeconfig", "{d}/k.yaml"], ["k.yaml", "users[u].user.exec.command", "not found"]),
    ("external-sink-wait", {"k.yaml": kubeconfig()},
     ["external", "preflight", "--kubeconfig", "{d}/k.yaml", "--sink-wait", "2h"], ["--sink-wait"]),
    ("external-receiver-public-address", {}, ["external", "receiver", "--dir", "{d}/r", "--address", "8.8.8.8"],
     ["host", "8.8.8.8"]),
    ("external-webhook-receiver-not-made", {"k.yaml": kubeconfig(), "r/x": "x"},
     ["external", "preflight", "--kubeconfig", "{d}/k.yaml", "--webhook-receiver", "{d}/r"], ["--webhook-receiver", "external receiver"]),
    ("external-cleanup-bad-prefix", {"k.yaml": kubeconfig()},
     ["external", "cleanup", "--kubeconfig", "{d}/k.yaml", "--prefix", "production"], ["--prefix", "ab-"]),
    ("run-local-scenario-with-kubeconfig", {"s.yaml": scenario(), "k.yaml": kubeconfig()},
     ["run", "{d}/s.yaml", "--kubeconfig", "{d}/k.yaml"], ["--kubeconfig", "backend external only"]),
    ("scenario-not-a-mapping", {"s.yaml": "- name: t\n"}, ["run", "{d}/s.yaml", "--check"], ["s.yaml", "mapping"]),
    ("scenario-invalid-yaml", {"s.yaml": "name: [t\n"}, ["run", "{d}/s.yaml", "--check"], ["s.yaml", "YAML", "line 2"]),
    ("scenario-not-utf8", {"s.yaml": b"name: t\n\xff\xfe: 1\n"}, ["run", "{d}/s.yaml", "--check"], ["s.yaml", "UTF-8", "byte 8"]),
    # --- policies ---------------------------------------------------------------------
    ("policy-wrong-version", {"p.yaml": policy(apiVersion="audit.k8s.io/v1beta1")},
     ["policy", "lint", "{d}/p.yaml"], ["p.yaml", "apiVersion"]),
    ("policy-bad-stage", {"p.yaml": policy(omitStages=["RequestReceived", "Sometime"])},
     ["policy", "lint", "{d}/p.yaml"], ["p.yaml", "omitStages[1]"]),
    ("policy-url-without-slash", {"p.yaml": policy([{"level": "None", "nonResourceURLs": ["healthz"]}])},
     ["policy", "lint", "{d}/p.yaml"], ["p.yaml", "rules[0].nonResourceURLs[0]"]),
    ("policy-names-without-resources", {"p.yaml": policy([{"level": "None", "resources": [{"resourceNames": ["x"]}]}])},
     ["policy", "lint", "{d}/p.yaml"], ["p.yaml", "rules[0].resources[0].resourceNames"]),
    ("policy-rules-not-a-list", {"p.yaml": policy(rules="everything")}, ["policy", "lint", "{d}/p.yaml"], ["p.yaml", "rules"]),
    ("policy-verbs-not-strings", {"p.yaml": policy([{"level": "None", "verbs": [{"get": 1}]}])},
     ["policy", "lint", "{d}/p.yaml"], ["p.yaml", "rules[0].verbs[0]"]),
    ("policy-not-utf8", {"p.yaml": b"apiVersion: audit.k8s.io/v1\nkind: \xff\n"}, ["policy", "lint", "{d}/p.yaml"], ["p.yaml", "cannot read"]),
    ("policy-explain-bad-file", {"p.yaml": policy([{"level": "Loud"}])},
     ["policy", "explain", "{d}/p.yaml", "--user", "a", "--verb", "get", "--resource", "pods"], ["p.yaml", "rules[0].level"]),
    # --- flags ------------------------------------------------------------------------
    ("measure-zero-users", {}, ["measure", "--policy", GOOD_POLICY, "--users", "0"], ["command line", "--users"]),
    ("measure-zero-rate", {}, ["measure", "--policy", GOOD_POLICY, "--rate", "0"], ["command line", "--rate"]),
    ("measure-bad-duration", {}, ["measure", "--policy", GOOD_POLICY, "--users", "2", "--duration", "5x"],
     ["command line", "--duration"]),
    ("measure-unknown-profile", {}, ["measure", "--policy", GOOD_POLICY, "--users", "2", "--profile", "chaos"],
     ["command line", "--profile", "chaos"]),
    ("measure-error-rate-above-one", {}, ["measure", "--policy", GOOD_POLICY, "--users", "2", "--receiver-error-rate", "2"],
     ["command line", "--receiver-error-rate"]),
    ("measure-no-policy", {}, ["measure", "--users", "2"], ["command line", "--policy"]),
    ("measure-bad-policy", {"p.yaml": policy([{"level": "Loud"}])}, ["measure", "--policy", "{d}/p.yaml", "--users", "2"],
     ["p.yaml", "rules[0].level"]),
    ("up-webhook-without-policy", {}, ["up", "--webhook"], ["command line", "--webhook", "--policy"]),
    ("up-log-setting-without-policy", {}, ["up", "--log-maxsize", "5"], ["command line", "--log-maxsize", "--policy"]),
    ("up-bad-log-mode", {}, ["up", "--policy", GOOD_POLICY, "--log-mode", "fast"], ["command line", "--log-mode"]),
    ("up-unwritable-run-dir", {}, ["up", "--run-dir", "/proc/auditbench-no"], ["/proc/auditbench-no", "--run-dir"]),
    ("kind-config-zero-batch", {}, ["kind", "config", "--policy", GOOD_POLICY, "--webhook-batch-max-size", "0"],
     ["command line", "--webhook-batch-max-size"]),
    ("kind-config-unwritable-out", {}, ["kind", "config", "--policy", GOOD_POLICY, "--out", "/proc/auditbench-no"],
     ["/proc/auditbench-no", "--out"]),
    ("whatif-no-policy", {"a.log": LINE + "\n"}, ["whatif", "{d}/a.log"], ["--policy"]),
    ("compare-unwritable-junit", {}, ["compare", "a", "b", "--junit", "/proc/auditbench-no/j.xml"], ["/proc/auditbench-no", "--junit"]),
    # --- audit logs -------------------------------------------------------------------
    ("log-truncated-gzip", {"a.log.gz": b""}, ["whatif", "{d}/a.log.gz", "--policy", GOOD_POLICY],
     ["a.log.gz", "after line", "truncated"]),
    ("log-not-json", {"a.log": "hello\n"}, ["logs", "scan", "{d}/a.log"], ["a.log", "line 1", "not JSON"]),
    ("log-bad-json-line", {"a.log": f"{LINE}\n{LINE}\n{{\"kind\": \n"}, ["whatif", "{d}/a.log", "--policy", GOOD_POLICY],
     ["a.log", "line 3", "not valid JSON"]),
    ("log-line-not-object", {"a.log": f"{LINE}\n[1, 2]\n"}, ["whatif", "{d}/a.log", "--policy", GOOD_POLICY],
     ["a.log", "line 2", "JSON object"]),
    ("log-not-utf8-line", {"a.log": LINE.encode() + b"\n{\"kind\": \"\xff\"}\n"}, ["whatif", "{d}/a.log", "--policy", GOOD_POLICY],
     ["a.log", "line 2"]),
    ("capture-without-events", {"c.webhook.jsonl": '{"received_at": 1.0, "bytes": 2, "events": 5}\n'},
     ["whatif", "{d}/c.webhook.jsonl", "--policy", GOOD_POLICY], ["c.webhook.jsonl", "line 1: events"]),
    ("eventlist-item-not-object", {"e.json": json.dumps({"kind": "EventList", "items": [EVENT, 7]})},
     ["whatif", "{d}/e.json", "--policy", GOOD_POLICY], ["e.json", "items[1]"]),
    ("log-dir-without-logs", {"notes.txt": "x"}, ["logs", "scan", "{d}"], ["no audit files"]),
    ("log-missing", {}, ["logs", "scan", "{d}/missing.log"], ["missing.log", "no such file"]),
]


def _truncated_gzip() -> bytes:
    # Long enough that the first 64 KiB (read to sniff the kind) decompress fine.
    data = gzip.compress((LINE + "\n").encode() * 5000, compresslevel=1)
    return data[: len(data) - 50]


@pytest.mark.parametrize(("files", "args", "fragments"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2(files: dict[str, str | bytes], args: list[str], fragments: list[str],
                                      tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name, content in files.items():
        if name == "a.log.gz":
            content = _truncated_gzip()
        text = content if isinstance(content, bytes) else content.replace("{d}", str(tmp_path)).encode()
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(text)
    outcome = run_main([a.replace("{d}", str(tmp_path)) for a in args], capsys)
    assert_one_line_error(outcome, 2, *fragments)


def test_at_least_forty_distinct_cases() -> None:
    assert len({c[0] for c in CASES}) == len(CASES) >= 40


def test_good_scenario_passes_the_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The control for every scenario case above: BASE itself is fine, so each case fails for its own change.
    (tmp_path / "s.yaml").write_text(scenario(traffic={"mode": "open", "target_rps": 50, "duration": "30s", "requests": 1000}))
    outcome = run_main(["run", str(tmp_path / "s.yaml"), "--check"], capsys)
    assert outcome.returncode == 0, outcome.stderr
    assert "ok, 2 variants" in outcome.stdout and "metadata-all.log.mixed" in outcome.stdout
