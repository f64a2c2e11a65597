"""`policy suggest` proven on the real apiserver: capture a fixed traffic under RequestResponse for
everything, suggest a cheaper policy from it, run the same traffic under the suggested policy,
and compare what the apiserver wrote with the prediction (events exactly, bytes within the
what-if tolerance of 3%) and with the detections (every request each finds in the capture is
found in the real log). The traffic is the coverage fixtures' (make_coverage_fixtures.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from bench.detections import load_detections
from bench.logs import reader, records, suggest
from bench.paths import project_root
from bench.policy.lint import lint
from bench.policy.loader import load_policy

pytestmark = pytest.mark.integration

_SCRIPT = project_root() / "tests" / "fixtures" / "logs" / "make_coverage_fixtures.py"
_spec = importlib.util.spec_from_file_location("make_coverage_fixtures", _SCRIPT)
fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixtures)  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def capture(binaries, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("suggest") / "capture.log"
    assert fixtures.whatif_fixtures.record(fixtures.whatif_fixtures.CAPTURE_POLICY, out, fixtures.traffic) > 0
    return out


def _events(path: Path) -> list:
    return list(reader.iter_events(reader.expand([path])))


def _signature(ev: dict) -> tuple:
    return ev.get("verb"), ev.get("requestURI"), (ev.get("user") or {}).get("username")


@pytest.mark.parametrize("base", ["seed-production", "requestresponse-all"])
def test_suggested_policy_on_the_real_apiserver(capture: Path, tmp_path: Path, base: str) -> None:
    dets = load_detections("article")
    rec = records.build(_events(capture), dets)
    result = suggest.search(rec, load_policy(project_root() / "policies" / f"{base}.yaml"))
    proof = suggest.prove(_events(capture), result, dets)
    assert proof.keeps_every_detection and proof.matches_search and result.steps
    policy_file = tmp_path / "suggested.yaml"
    policy_file.write_text(suggest.policy_yaml(result, str(capture), "article"))
    assert not [f for f in lint(load_policy(policy_file)) if f.severity == "error"]

    real = tmp_path / "real.log"
    fixtures.whatif_fixtures.record(policy_file.read_text(), real, fixtures.traffic)
    actual = _events(real)
    actual_bytes = sum(n for _, n in actual)
    events, predicted = result.cost
    print(f"{base}: base {result.base_cost[1]} B -> suggested: predicted {events} events / {predicted} B, "
          f"apiserver wrote {len(actual)} / {actual_bytes} B ({len(result.steps)} edits)")
    assert events == len(actual)
    assert abs(predicted - actual_bytes) / actual_bytes <= 0.03

    captured = [ev for ev, _ in _events(capture)]
    for det in dets:
        want = {_signature(ev) for ev in captured if det.matches(ev)}
        got = {_signature(ev) for ev, _ in actual if det.matches(ev)}
        assert got == want, det.name
    assert any(det.name == "exec-in-production" and any(det.matches(ev) for ev, _ in actual) for det in dets)
