"""Matrix expansion, interleaved schedule and resume."""

from __future__ import annotations

from collections import Counter

import pytest

from bench.errors import InputError
from bench.scenario.loader import parse_scenario
from bench.scenario.matrix import expand, order_from_manifest, remaining, schedule


def scenario(**extra):
    doc = {
        "name": "t",
        "policies": ["seed-production", "metadata-all"],
        "audit": {"log": {"enabled": [True]},
                  "webhook": {"enabled": [True], "mode": ["batch", "blocking"], "batch_max_wait": ["0s", "5s"]}},
        "traffic": {"profiles": ["mixed", "noisy"], "users": 5, "duration": "10s"},
        "repeats": 3,
        "seed": 1,
    }
    doc.update(extra)
    return parse_scenario(doc)


def test_expansion_ids_and_count():
    vs = expand(scenario())
    ids = [v.id for v in vs]
    # 2 policies × (batch 0s, batch 5s, blocking) × 2 profiles + 2 baselines
    assert len(ids) == 2 * 3 * 2 + 2 == len(set(ids))
    assert "seed-production.log.wh-batch-5s.mixed" in ids
    assert "metadata-all.log.wh-blocking.noisy" in ids
    assert {"baseline.mixed", "baseline.noisy"} <= set(ids)


def test_blocking_mode_ignores_batch_settings():
    vs = [v for v in expand(scenario()) if v.webhook and v.webhook.mode == "blocking"]
    assert len(vs) == 4
    assert all(v.webhook.batch_max_wait_s is None and v.webhook.throttle_qps is None for v in vs)


def test_baseline_has_no_audit_at_all():
    base = [v for v in expand(scenario()) if v.is_baseline]
    assert all(v.policy_path is None and v.log is None and v.webhook is None for v in base)
    assert base[0].audit_dict() == {"log": {"enabled": False}, "webhook": {"enabled": False}}


def test_no_baseline_when_disabled():
    assert not any(v.is_baseline for v in expand(scenario(baseline=False)))


def test_combinations_without_any_backend_are_dropped():
    s = scenario(audit={"log": {"enabled": [True, False]}, "webhook": {"enabled": [False]}})
    assert all(v.log is not None for v in expand(s) if not v.is_baseline)
    s = scenario(audit={"log": {"enabled": [False]}, "webhook": {"enabled": [False]}})
    with pytest.raises(InputError, match="matrix is empty"):
        expand(s)


def test_non_default_batch_sizes_show_in_ids():
    s = scenario(audit={"webhook": {"enabled": [True], "batch_max_size": [400, 100], "batch_max_wait": ["1s"]},
                        "log": {"enabled": [False]}})
    ids = {v.id for v in expand(s)}
    assert "seed-production.wh-batch-1s.mixed" in ids
    assert "seed-production.wh-batch-1s-n100.mixed" in ids


def test_spec_dict_is_a_valid_result_variant_section():
    from bench.results.schema import VariantSpec

    for v in expand(scenario()):
        VariantSpec.model_validate(v.spec_dict())


def test_each_repeat_runs_every_variant_once():
    vs = expand(scenario())
    order = schedule(vs, 3, seed=1)
    assert len(order) == 3 * len(vs)
    for r in (1, 2, 3):
        block = [v.id for v, rep in order if rep == r]
        assert Counter(block) == Counter(v.id for v in vs)
    # repeats are contiguous blocks: ABC ABC ABC, never AAA BBB CCC
    assert [rep for _, rep in order] == sorted(rep for _, rep in order)


def test_order_is_reproducible_and_differs_by_seed():
    vs = expand(scenario())
    a = [(v.id, r) for v, r in schedule(vs, 3, seed=1)]
    b = [(v.id, r) for v, r in schedule(vs, 3, seed=1)]
    c = [(v.id, r) for v, r in schedule(vs, 3, seed=2)]
    assert a == b
    assert a != c


def test_repeats_are_shuffled_differently():
    vs = expand(scenario())
    order = schedule(vs, 3, seed=1)
    blocks = [[v.id for v, r in order if r == rep] for rep in (1, 2, 3)]
    assert blocks[0] != blocks[1] or blocks[1] != blocks[2]


@pytest.mark.parametrize("seed", range(30))
def test_no_variant_runs_twice_in_a_row(seed):
    vs = expand(scenario(policies=["seed-production"], audit={"log": {"enabled": [True]}},
                         traffic={"users": 5, "duration": "5s"}))
    assert len(vs) == 2
    order = schedule(vs, 5, seed=seed)
    assert all(a[0].id != b[0].id for a, b in zip(order, order[1:]))


def test_resume_returns_the_rest_in_order():
    vs = expand(scenario())
    order = schedule(vs, 3, seed=1)
    finished = [(v.id, r) for v, r in order[:7]]
    rest = remaining(order, finished)
    assert rest == order[7:]
    assert remaining(order, [(v.id, r) for v, r in order]) == []
    # finishing out of order (a failed step re-queued) is fine too
    assert remaining(order, [(order[3][0].id, order[3][1])]) == order[:3] + order[4:]


def test_order_from_manifest_uses_stored_order_and_detects_changes():
    vs = expand(scenario())
    stored = [(v.id, r) for v, r in schedule(vs, 3, seed=1)]
    rebuilt = order_from_manifest(expand(scenario(seed=99)), stored)
    assert [(v.id, r) for v, r in rebuilt] == stored
    with pytest.raises(InputError, match="not in the scenario"):
        order_from_manifest(expand(scenario(policies=["seed-production"])), stored)
