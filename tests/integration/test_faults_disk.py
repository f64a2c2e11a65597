"""The audit log's disk fills up mid-window (a 2 MiB tmpfs mounted for --audit-log-dir, filled
to its last byte 3 s into the window), in the log backend's blocking, blocking-strict and
batch modes, through `auditbench run`.

What kube-apiserver v1.37.2 does, measured here: every write after the disk is full fails
and is counted in apiserver_audit_error_total{plugin="log"} (the event is lost; the write
that hit the end leaves a line cut short in the file). In blocking and batch modes requests
go on as if nothing happened; in blocking-strict every audited request is refused with
HTTP 500 "failed to store audit event", the harness's own /metrics scrapes included.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.faults import Harness, flat, results_of

pytestmark = pytest.mark.integration

FILL_AT_S = 3.0


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real file system that can fill up: tmpfs, 2 MiB. Mounting needs root (CI runs the
    integration tests as root, or with passwordless sudo)."""
    mnt = tmp_path / "auditfs"
    mnt.mkdir()
    cmd = ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mnt)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        done = subprocess.run(["sudo", "-n", *cmd], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs for the full-disk test (root or sudo needed): {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        umount = ["umount", str(mnt)]
        subprocess.run(umount if os.geteuid() == 0 else ["sudo", "-n", *umount], check=False)


def test_audit_log_disk_full(binaries, tmp_path: Path, small_disk: Path) -> None:
    h = Harness(tmp_path / "h", binaries.kube_apiserver.parent)
    scenario = h.scenario({
        "name": "disk-full", "policies": ["seed-with-requestreceived"], "baseline": False,
        "audit": {"log": {"mode": ["blocking", "blocking-strict", "batch"]}},
        "traffic": {"profiles": ["security"], "mode": "open", "target_rps": 30, "duration": "8s", "warmup": "1s"},
    })
    rc, out = h.run("run", str(scenario), "--no-report", "--audit-log-dir", str(small_disk), fault=f"audit-disk@{FILL_AT_S}")
    text = flat(out)
    fills = h.faults()
    assert len(fills) == 3 and all(f["at"] - f["window_start"] == pytest.approx(FILL_AT_S, abs=0.5) for f in fills)
    (run_dir,) = h.run_dirs()
    by_mode = {r.variant.audit["log"]["mode"]: r for r in results_of(run_dir).values()}
    for mode, r in by_mode.items():
        t, a = r.traffic, r.audit
        print(f"{mode}: {r.status} {r.error or ''} | requests {t.requests}, failed {t.failures} {dict(t.errors_by_code)}"
              f" | audit errors {a.metrics.error_total}, rejected {a.metrics.requests_rejected_total}"
              f" | log events {a.log.events if a.log else None}, damaged lines {a.log.damaged_lines if a.log else None}"
              f" | reconciliation {a.reconciliation.get('log')} | flags {r.flags}")
    assert rc == 1
    for mode in ("blocking", "batch"):
        r = by_mode[mode]
        assert r.traffic.failures == 0 and r.status == "flagged", (mode, r.status, r.error)
        rec = r.audit.reconciliation["log"]
        assert rec["reconciles"] and rec["failed"] > 0 and r.audit.metrics.error_total.get("log", 0) > 0, rec
        assert r.audit.log.damaged_lines <= 1  # the one write that hit the end
        assert f"{r.variant_id} r1: audit log backend lost events" in text
    strict = by_mode["blocking-strict"]
    assert strict.status == "failed" and strict.traffic.errors_by_code.get("500", 0) > 0, strict.error
    assert f"failed {strict.variant_id} r1:" in text and "HTTP 500" in strict.error
    # the harness's own /metrics scrapes are audited too: refused the same way
    assert any("HTTP 500" in e for e in strict.metrics_bracket.scrape_errors), strict.metrics_bracket
    h.assert_nothing_left()
    assert h.scratch_left() == []
    assert list(small_disk.iterdir()) == [], "each variant's log directory (and the filler) removed"
