"""CLI: `auditbench controlplane build|versions|bench|cache-key`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from bench.controlplane import build as cpbuild

build_app = typer.Typer(no_args_is_help=True, help="Build and inspect the local control plane.")
out = Console()


@build_app.command("build")
def build_cmd(
    force: bool = typer.Option(False, "--force", help="Rebuild even if the cache is complete."),
    kubernetes: Optional[str] = typer.Option(None, "--kubernetes", help=(
        f"Another release, e.g. v1.36.3 (default: the pinned {cpbuild.KUBERNETES_VERSION}); its module is generated "
        "from that release's go.mod, built at nice 19 (10-25 minutes), run against the pinned etcd.")),
) -> None:
    """Build kube-apiserver, kube-controller-manager and etcd into the user cache (reused when complete)."""
    started = time.monotonic()
    if kubernetes is not None:
        from bench.controlplane.releases import build_release

        got = build_release(kubernetes, force=force, echo=lambda m: out.print(m, highlight=False))
        bins, record = got.binaries, got.record
    else:
        bins, record = cpbuild.build(force=force, echo=lambda m: out.print(m, highlight=False))
    elapsed = time.monotonic() - started
    src = "reused cache" if bins.source == "cache" else "built"
    peak = record.get("peak_tree_rss_bytes")
    out.print(f"{src} Kubernetes {bins.kubernetes_version} in {elapsed:.1f}s (build record: {record.get('build_seconds')}s"
              + (f", peak memory {peak / 2**30:.2f} GiB" if peak else "") + ")", highlight=False)
    for name in cpbuild.BINARIES:
        out.print(f"  {name}: {bins.as_dict()[name]}", highlight=False, soft_wrap=True)


@build_app.command("versions")
def versions_cmd(bin_dir: Optional[str] = typer.Option(None, "--bin-dir", help="Directory with your own binaries.")) -> None:
    """Print the versions the binaries report (runs each with --version)."""
    bins = cpbuild.resolve(bin_dir, allow_build=False)
    api = cpbuild.binary_version(bins.kube_apiserver, cpbuild._K8S_VERSION)
    kcm = cpbuild.binary_version(bins.kube_controller_manager, cpbuild._K8S_VERSION)
    etcd = cpbuild.binary_version(bins.etcd, cpbuild._ETCD_VERSION)
    out.print(f"kube-apiserver {api}\nkube-controller-manager {kcm}\netcd {etcd}", highlight=False)


@build_app.command("bench")
def bench_cmd(
    starts: int = typer.Option(5, "--starts", min=1, max=50, help="How many start/stop cycles."),
    policy: Optional[Path] = typer.Option(None, "--policy", help="Audit policy for the cluster (default: the article's)."),
) -> None:
    """Measure start-to-ready and stop times of the local backend with cached binaries."""
    from bench.controlplane.startup import StartStop, summary, time_starts
    from bench.paths import project_root

    def show(i: int, cycle: StartStop) -> None:
        t = cycle.timings
        out.print(f"start {i + 1}: etcd {t.etcd_s:.2f}s, apiserver ready {t.apiserver_s:.2f}s, "
                  f"rbac {t.rbac_s:.2f}s, controller-manager {t.controller_manager_s:.2f}s", highlight=False)

    bins = cpbuild.resolve(allow_build=False)
    s = summary(time_starts(starts, policy or project_root() / "policies" / "seed-production.yaml", bins, show))
    out.print(f"start-to-ready: median {s['ready_median_s']:.2f}s, min {s['ready_min_s']:.2f}s, max {s['ready_max_s']:.2f}s "
              f"over {starts} starts; stop: median {s['stop_median_s']:.2f}s", highlight=False)


@build_app.command("cache-key")
def cache_key_cmd(
    directory: bool = typer.Option(False, "--dir", help="Print the cache directory instead of the key."),
) -> None:
    """Print the binaries' cache key (Kubernetes and etcd versions, hash of the module files), e.g. for actions/cache."""
    # plain print: a key or path must never be wrapped or styled
    print(cpbuild.cache_dir() if directory else cpbuild.cache_key())
