"""A kept capture carries no secret values, and replays exactly as the original would."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from bench.detections import load_detections
from bench.logs import capture, coverage, reader, whatif
from bench.logs.redact import redact, redact_line
from bench.policy.loader import load_policy

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "logs"


def _line(ev: dict) -> bytes:
    from bench.logs.gojson import go_dumps

    return go_dumps(ev).encode() + b"\n"


def test_secret_material_is_overwritten_to_the_same_length() -> None:
    secret = {"objectRef": {"resource": "secrets", "namespace": "a", "name": "s"}, "verb": "create",
              "requestObject": {"kind": "Secret", "stringData": {"pw": "hunter2 <&> é"}, "metadata": {"name": "s"}},
              "responseObject": {"kind": "Secret", "data": {"pw": "aHVudGVyMg=="}, "type": "Opaque"}}
    listing = {"objectRef": {"resource": "secrets"}, "verb": "list",
               "responseObject": {"kind": "SecretList", "items": [{"data": {"a": "c2VjcmV0"}}, {"data": {"b": "eA=="}}]}}
    patch = {"objectRef": {"resource": "configmaps", "name": "c"}, "verb": "patch",
             "requestObject": {"data": {"k": "value"}}, "responseObject": {"data": {"k": "value"}, "metadata": {}}}
    token = {"objectRef": {"resource": "serviceaccounts", "subresource": "token"}, "verb": "create",
             "responseObject": {"kind": "TokenRequest", "status": {"token": "eyJhbGciOi.abc.def", "expirationTimestamp": "x"}}}
    review = {"objectRef": {"resource": "tokenreviews", "apiGroup": "authentication.k8s.io"}, "verb": "create",
              "requestObject": {"spec": {"token": "bearer-value"}}}
    pod = {"objectRef": {"resource": "pods"}, "verb": "create", "requestObject": {"data": {"not": "secret"}}}
    for ev in (secret, listing, patch, token, review):
        line = _line(ev)
        clean = redact_line(line)
        assert len(clean) == len(line), ev
        text = clean.decode()
        for value in ("hunter2", "aHVudGVyMg", "c2VjcmV0", "eA==", "value", "eyJhbGciOi", "bearer-value"):
            assert value not in text
    assert json.loads(redact_line(_line(secret)))["requestObject"]["metadata"] == {"name": "s"}  # structure stays
    assert redact(pod) is pod and redact_line(_line(pod)) == _line(pod)


def test_kept_capture_replays_exactly_like_the_original(tmp_path: Path) -> None:
    src = FIXTURES / "coverage-capture.log"
    kept = capture.keep([src], ROOT / "policies" / "requestresponse-all.yaml", (0.0, 4e9), tmp_path, "rr", 1)
    assert kept is not None
    text = gzip.decompress(kept.read_bytes())
    value = b"Zml4dHVyZSB2YWx1ZSwgbm90IGEgY3JlZGVudGlhbA"  # base64 of the fixture's secret value
    assert value in src.read_bytes() and value not in text
    assert len(text) == src.stat().st_size
    policies = [load_policy(ROOT / "policies" / f"{n}.yaml") for n in ("seed-production", "metadata-all")]
    dets = load_detections("article")
    docs = []
    for path in (src, kept):
        collector = coverage.Collector(dets)
        result = whatif.predict(reader.iter_events(reader.expand([path])), policies, observe=collector.observe)
        docs.append((result.to_json()["predictions"],
                     [c.to_json()["detections"] for c in coverage.coverage(collector.finish(), dets, policies)]))
    assert docs[0][0] == docs[1][0]
    strip = lambda covs: [[{k: v for k, v in d.items() if k != "missed"} for d in c] for c in covs]  # noqa: E731
    assert strip(docs[0][1]) == strip(docs[1][1])
