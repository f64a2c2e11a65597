"""CPU lists: the kernel's format both ways, and reading a process's (and its threads') lists."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from bench.controlplane.affinity import effective_cpus, format_cpu_list, parse_cpu_list


@pytest.mark.parametrize("text, cpus", [
    ("0", {0}), ("0-3", {0, 1, 2, 3}), ("0-2,5", {0, 1, 2, 5}), ("1,3,5-6,8-9", {1, 3, 5, 6, 8, 9}),
    ("", set()), ("7\n", {7}), ("0-0", {0}),
])
def test_parse(text: str, cpus: set[int]) -> None:
    assert parse_cpu_list(text) == cpus


@pytest.mark.parametrize("bad", ["3-1", "a", "1-", "-1", "1,,x"])
def test_parse_refuses_garbage(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_cpu_list(bad)


def test_format_is_the_kernels_compact_form() -> None:
    assert format_cpu_list({0, 1, 2, 5}) == "0-2,5"
    assert format_cpu_list([3]) == "3"
    assert format_cpu_list({1, 3, 5, 6, 8, 9, 10}) == "1,3,5-6,8-10"
    assert format_cpu_list(set()) == ""


def test_round_trip_over_random_sets() -> None:
    rng = random.Random(15)
    for _ in range(500):
        cpus = {c for c in range(rng.randint(1, 130)) if rng.random() < 0.4}
        assert parse_cpu_list(format_cpu_list(cpus)) == cpus


def _status(path: Path, cpus: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    (path / "status").write_text(f"Name:\tkube-apiserver\nCpus_allowed:\tc\nCpus_allowed_list:\t{cpus}\nVoluntary:\t1\n")


def test_reads_the_process_and_every_thread_from_a_proc_tree(tmp_path: Path) -> None:
    _status(tmp_path / "42", "2-3")
    _status(tmp_path / "42" / "task" / "42", "2-3")
    _status(tmp_path / "42" / "task" / "43", "2-3")
    _status(tmp_path / "42" / "task" / "44", "0-3")  # one thread escaped the set
    got = effective_cpus(42, tmp_path)
    assert got.cpus == {2, 3}
    assert got.threads == {42: {2, 3}, 43: {2, 3}, 44: {0, 1, 2, 3}}
    assert got.outside({2, 3}) == {44: {0, 1, 2, 3}}
    assert got.union() == {0, 1, 2, 3}
    assert got.as_metadata() == {"cpus": "2-3", "threads": 3, "thread_cpus": ["0-3", "2-3"]}


def test_a_gone_process_is_a_lookup_error(tmp_path: Path) -> None:
    with pytest.raises(ProcessLookupError):
        effective_cpus(99, tmp_path)


def test_reads_this_process_for_real() -> None:
    got = effective_cpus(os.getpid())
    assert got.cpus == os.sched_getaffinity(0)
    assert os.getpid() in got.threads and got.outside(os.sched_getaffinity(0)) == {}
