"""procstat on real processes: a child (and a grandchild) that burn a known amount of CPU."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bench.measure.procstat import ProcSampler, read_pid, read_tree, summarize

# Waits for "go" on stdin, burns `cpu` seconds of its own CPU time (process_time, so a busy
# machine stretches the wall time but not the amount), holds `mb` MiB, prints "done".
_BURNER = textwrap.dedent("""
    import sys, time
    cpu, mb, spawn = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
    sys.stdin.readline()
    ballast = bytearray(mb << 20)
    for i in range(0, len(ballast), 4096):
        ballast[i] = 1
    if spawn:
        import subprocess
        child = subprocess.Popen([sys.executable, "-c",
            "import time\\nt=time.process_time()\\nwhile time.process_time()-t<%s: pass" % cpu])
        child.wait()
    else:
        t = time.process_time()
        while time.process_time() - t < cpu:
            pass
    print("done", flush=True)
    sys.stdin.readline()
""")


def _burner(cpu: float, mb: int, spawn: bool) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", _BURNER, str(cpu), str(mb), "1" if spawn else "0"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def _run(proc: subprocess.Popen[str], interval: float = 0.1) -> dict:
    assert proc.stdin is not None and proc.stdout is not None
    try:
        with ProcSampler({"burner": proc.pid}, interval=interval) as sampler:
            proc.stdin.write("go\n")
            proc.stdin.flush()
            assert proc.stdout.readline().strip() == "done"
        return sampler.result()["burner"]
    finally:
        proc.kill()
        proc.wait()


def test_cpu_seconds_and_rss_of_a_burning_child():
    fig = _run(_burner(0.8, 64, spawn=False))
    # 0.8 s burned plus touching 64 MiB; nothing else runs in the window.
    assert 0.75 <= fig["cpu_seconds"] <= 1.3
    assert fig["rss_peak_bytes"] >= 64 << 20
    assert fig["rss_mean_bytes"] <= fig["rss_peak_bytes"]
    assert 0 < fig["cpu_util"] <= 1.05  # one thread cannot use more than one core
    assert len(fig["samples"]) >= 3
    ts = [s[0] for s in fig["samples"]]
    assert ts == sorted(ts)


def test_cpu_of_a_grandchild_is_counted_once():
    fig = _run(_burner(0.8, 8, spawn=True))
    # The burning grandchild is counted while alive, then through the parent's cutime.
    assert 0.75 <= fig["cpu_seconds"] <= 1.4


def test_a_vanished_process_is_marked_exited():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert read_pid(proc.pid) is None
    sampler = ProcSampler({"gone": proc.pid}, interval=0.05).start()
    fig = sampler.stop()["gone"]
    assert fig["exited"] is True and fig["cpu_seconds"] is None


def test_stat_with_parentheses_in_the_command_name(tmp_path: Path):
    d = tmp_path / "42"
    (d / "task" / "42").mkdir(parents=True)
    (d / "task" / "42" / "children").write_text("")
    # comm "a) (b" — the parser must split after the last ')'.
    fields = ["S", "1", "42", "42", "0", "-1", "0", "0", "0", "0", "0", "300", "100", "50", "25"] + ["0"] * 37
    (d / "stat").write_text("42 (a) (b) " + " ".join(fields) + "\n")
    (d / "status").write_text("Name:\ta) (b\nVmHWM:\t   2048 kB\nVmRSS:\t   1024 kB\n")
    sample = read_tree(42, proc=tmp_path)
    assert sample is not None
    ticks = 300 + 100 + 50 + 25
    from bench.measure.procstat import CLK_TCK
    assert sample.cpu_seconds == pytest.approx(ticks / CLK_TCK)
    assert sample.rss_bytes == 1024 * 1024 and sample.hwm_bytes == 2048 * 1024


def test_summarize_known_series():
    samples = [(0.0, 0.0, 100), (1.0, 0.5, 300), (2.0, 1.5, 200)]
    fig = summarize(samples, hwm_bytes=400)
    assert fig["cpu_seconds"] == 1.5
    assert fig["cpu_util"] == 0.75
    assert fig["rss_peak_bytes"] == 300 and fig["rss_mean_bytes"] == 200
    assert fig["rss_hwm_bytes"] == 400
