"""What-if against the real apiserver, recorded live: one capture under RequestResponse for
everything, then the same traffic under each candidate policy; events must match exactly and
bytes within ±3% (the issue's bar). The recorder cuts each log at a marker request (a namespace
get), so candidate policies here are ones that log that request."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from bench.logs import reader, whatif
from bench.policy.loader import load_policy
from bench.paths import project_root

pytestmark = pytest.mark.integration

_SCRIPT = project_root() / "tests" / "fixtures" / "logs" / "make_whatif_fixtures.py"
_spec = importlib.util.spec_from_file_location("make_whatif_fixtures", _SCRIPT)
fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixtures)  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def capture(binaries, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("whatif") / "capture.log"
    assert fixtures.record(fixtures.CAPTURE_POLICY, out) > 0
    return out


@pytest.mark.parametrize("name", ["seed-production", "mixed", "metadata-all", "seed-no-none-rules"])
def test_prediction_matches_a_live_replay(capture, tmp_path, name):
    if name == "mixed":
        text = fixtures.MIXED_POLICY
    else:
        text = (project_root() / "policies" / f"{name}.yaml").read_text()
    policy_file = tmp_path / f"{name}.yaml"
    policy_file.write_text(text)
    actual_log = tmp_path / f"{name}.log"
    fixtures.record(text, actual_log)
    actual = list(reader.iter_events(reader.expand([actual_log])))
    pred = whatif.predict(reader.iter_events(reader.expand([capture])), [load_policy(policy_file)]).predictions[0]
    actual_bytes = sum(size for _, size in actual)
    print(f"{name}: predicted {pred.events} events / {pred.bytes} B, apiserver wrote {len(actual)} / {actual_bytes} B")
    assert pred.events == len(actual)
    if actual_bytes:
        assert abs(pred.bytes - actual_bytes) / actual_bytes <= 0.03
    else:
        assert pred.bytes == 0
