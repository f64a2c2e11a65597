"""What the machine lacks or refuses is one line and exit 3 (bad input is exit 2):
doctor as a preflight, tools that hang, output paths that cannot be written."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from bench import doctor
from bench.errors import InputError
from bench.kind import validate
from bench.outputs import output_dir, output_file
from tests.cliutil import assert_one_line_error, run_main


def _fake_tool(bin_dir: Path, name: str, script: str) -> Path:
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_doctor_fails_when_the_local_backend_cannot_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AUDITBENCH_CACHE_DIR", str(tmp_path / "empty-cache"))  # no binaries built there
    outcome = run_main(["doctor"], capsys)
    assert outcome.returncode == 3
    assert "control-plane binaries" in outcome.stdout and "the local backend cannot run here" in outcome.stdout


def test_doctor_passes_with_only_optional_and_kind_checks_failing() -> None:
    rows = [doctor.Check("kube-apiserver", True, "v1.37.2", "local"), doctor.Check("docker", False, "none", "kind"),
            doctor.Check("jq", False, "none", "optional")]
    assert doctor.local_backend_ready(rows)
    assert not doctor.local_backend_ready([*rows, doctor.Check("python: pandas", False, "missing", "local")])


def test_a_hanging_docker_is_a_failed_check_not_a_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_tool(tmp_path / "bin", "docker", "sleep 10")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(doctor, "_TIMEOUT_S", 0.3)
    row = doctor._docker()
    assert not row.ok and "did not answer in 0s" in row.detail and row.needed_by == "kind"


def test_a_hanging_kindcheck_is_one_line_exit_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AUDITBENCH_CACHE_DIR", str(tmp_path / "cache"))
    binary = validate.binary_path()
    _fake_tool(binary.parent, binary.name, "sleep 10")
    monkeypatch.setattr(validate, "_RUN_TIMEOUT", 0.3)
    config = tmp_path / "kind-config.yaml"
    config.write_text("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n")
    outcome = run_main(["kind", "check", str(config)], capsys)
    assert_one_line_error(outcome, 3, "kindcheck did not finish", "kind-config.yaml")


def test_kindcheck_without_a_report_is_one_line_exit_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AUDITBENCH_CACHE_DIR", str(tmp_path / "cache"))
    binary = validate.binary_path()
    _fake_tool(binary.parent, binary.name, "echo 'panic: runtime error'")
    config = tmp_path / "kind-config.yaml"
    config.write_text("kind: Cluster\n")
    outcome = run_main(["kind", "check", str(config)], capsys)
    assert_one_line_error(outcome, 3, "no JSON report", "panic")


def test_output_dir_is_created_and_probed(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b"
    assert output_dir(target, "--out") == target and target.is_dir()
    assert list(target.iterdir()) == []  # the probe file is gone


@pytest.mark.parametrize("path", ["/proc/auditbench-no", "/dev/null/x"])
def test_an_unwritable_output_dir_names_the_flag(path: str) -> None:
    with pytest.raises(InputError) as exc:
        output_dir(Path(path), "--out")
    assert (exc.value.where, exc.value.field) == (path, "--out")


def test_an_output_file_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory"):
        output_file(tmp_path, "--junit")


def test_a_refused_results_root_is_one_line_exit_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    # The results root is the harness's place, not a flag: the machine refusing it is exit 3,
    # found when the run directory is made, before any cluster starts.
    monkeypatch.setenv("AUDITBENCH_RESULTS_DIR", "/proc/auditbench-results")
    monkeypatch.setenv("AUDITBENCH_BIN_DIR", str(tmp_path))  # and nothing to start a cluster with
    outcome = run_main(["run", "smoke"], capsys)
    assert_one_line_error(outcome, 3, "/proc/auditbench-results")
