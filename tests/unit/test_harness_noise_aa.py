"""The A/A check of `auditbench harness noise`: random splits of one variant's repeats."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.harness import noise


def test_iid_repeats_are_called_different_in_about_five_percent_of_splits():
    rng = np.random.default_rng(3)
    values = list(100.0 * rng.lognormal(0.0, 0.05, size=12))
    row = noise.aa_different(values, splits=4000, seed=1)
    assert row.splits == 4000
    # An interval too narrow for 3 pairs (a normal quantile instead of t with 2 degrees of
    # freedom) would call ~19% of these splits different.
    assert 0.02 <= row.rate <= 0.09, row.rate


def test_too_few_repeats_give_no_split():
    assert noise.aa_different([1.0, 1.1, 0.9, 1.0, 1.05], pairs=3).splits == 0


def test_aa_rows_per_shown_figure():
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"status": ["ok"] * 8, "variant_id": ["v"] * 8, "repeat": range(1, 9),
                          **{m: 100.0 * rng.lognormal(0.0, 0.03, size=8) for m in noise.SHOWN}})
    rows = noise.aa_rows(frame, splits=200)
    assert [r.metric for r in rows] == list(noise.SHOWN)
    assert all(r.splits == 200 and r.rate is not None for r in rows)


def test_noise_from_a_committed_run_prints_the_aa_check() -> None:
    from bench.paths import project_root
    from tests.cliutil import run_cli

    done = run_cli("harness", "noise", "--from", str(project_root() / "results" / "examples" / "aa-noise"))
    assert done.returncode == 0, done.stderr
    assert "random A/A splits" in done.stdout and "2,000" in done.stdout


def test_noise_from_a_missing_run_is_one_line_exit_2(tmp_path) -> None:
    from tests.cliutil import assert_one_line_error, run_cli

    assert_one_line_error(run_cli("harness", "noise", "--from", str(tmp_path / "nope")), 2, "nope")
