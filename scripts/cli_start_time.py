#!/usr/bin/env python3
"""Time N starts of the real `auditbench` entry point and print the figures.

A benchmark that prints numbers, not a timed test: the machine's load decides the
absolute figure, so compare runs on the same idle machine. The default command is
the one issue 15 set a goal for (`policy explain`, under 300 ms).

    .venv/bin/python scripts/cli_start_time.py            # 15 runs of policy explain
    .venv/bin/python scripts/cli_start_time.py -n 30 -- policy lint policies/none.yaml
    .venv/bin/python scripts/cli_start_time.py --imports  # which modules a start loads
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ["policy", "explain", str(ROOT / "policies" / "seed-production.yaml"),
           "--user", "alice", "--verb", "get", "--resource", "pods"]
# Libraries the issue names as too heavy for a start that does not use them.
HEAVY = ("pandas", "matplotlib", "scipy", "duckdb", "kubernetes", "locust", "numpy", "cryptography", "jinja2")


def entry_point() -> list[str]:
    """The installed console script next to this interpreter, else `python -m bench`."""
    script = Path(sys.executable).with_name("auditbench")
    if script.is_file():
        return [str(script)]
    found = shutil.which("auditbench")
    return [found] if found else [sys.executable, "-m", "bench"]


def _child_cpu() -> float:
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def time_starts(argv: list[str], runs: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of each start. CPU time barely moves with the machine's load,
    so it is the figure to compare on a busy shared machine."""
    wall: list[float] = []
    cpu: list[float] = []
    for _ in range(runs):
        c0, t0 = _child_cpu(), time.perf_counter()
        proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wall.append(time.perf_counter() - t0)
        cpu.append(_child_cpu() - c0)
        if proc.returncode != 0:
            sys.exit(f"`{' '.join(argv)}` exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
    return wall, cpu


def heavy_imports(args: list[str]) -> list[str]:
    """Top-level packages of HEAVY that one start imports (from -X importtime)."""
    code = "import sys; from bench.cli import main; sys.argv = ['auditbench', *sys.argv[1:]]; main()"
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code, *args],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    names = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    return sorted(h for h in HEAVY if h in names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=15, help="starts to time (default 15)")
    parser.add_argument("--imports", action="store_true", help="also list the heavy libraries one start imports")
    parser.add_argument("command", nargs="*", help="auditbench arguments (default: policy explain ...)")
    opts = parser.parse_args()
    args = opts.command or DEFAULT
    argv = entry_point() + args
    time_starts(argv, 1)  # warm the page cache and .pyc files; not counted
    wall, cpu = time_starts(argv, opts.runs)
    wall.sort()
    print(f"auditbench {' '.join(args[:2])}: wall median {statistics.median(wall) * 1000:.0f} ms "
          f"(min {wall[0] * 1000:.0f}, max {wall[-1] * 1000:.0f}), CPU median {statistics.median(cpu) * 1000:.0f} ms, "
          f"over {len(wall)} starts (load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs)")
    if opts.imports:
        heavy = heavy_imports(args)
        print("heavy libraries imported: " + (", ".join(heavy) if heavy else "none"))


if __name__ == "__main__":
    main()
