"""Backends: where a variant's cluster comes from (local processes, kind, or someone else's).

``for_variant`` gives the orchestrator one Backend per variant (bench.backends.base);
``prepare`` does a backend's run-level work once, before any variant and its timer: build
the local control plane, check kind and docker, or run the external cluster's preflight.
"""

from __future__ import annotations

from typing import Any

from bench.backends.base import AS_CONFIGURED, Backend, Capabilities

__all__ = ["AS_CONFIGURED", "Backend", "Capabilities", "for_variant", "prepare"]


def for_variant(variant: Any, options: Any) -> Backend:
    """The backend for one variant (``options``: bench.measure.variant.MeasureOptions)."""
    if variant.backend == "local":
        from bench.backends.local import LocalBackend
        from bench.controlplane.releases import resolve_release

        return LocalBackend(variant, resolve_release(variant.kubernetes, options.bin_dir, echo=options.echo),
                            options.audit_log_dir)
    if variant.backend == "kind":
        from bench.backends.kind import KindBackend

        return KindBackend(variant, options.target)
    if variant.backend == "external":
        from bench.backends.external import ExternalBackend

        return ExternalBackend(variant, options.target)
    raise ValueError(f"unknown backend {variant.backend!r}")


def prepare(scenario: Any, options: Any, console: Any) -> None:
    """Run-level set-up, before the run directory exists; fills ``options.target``."""
    from bench.backends.external import ExternalOptions
    from bench.errors import InputError

    backend = scenario.backend
    if backend != "external" and isinstance(options.target, ExternalOptions):
        raise InputError("command line", "--kubeconfig", f"applies to backend external only (this runs on {backend})")
    if backend == "local":
        from bench.runner import prepare_binaries

        prepare_binaries(options, console)
    elif backend == "kind":
        from bench.backends.kind import prepare_kind

        options.target = prepare_kind(scenario.kind_options().image, console)
    elif backend == "external":
        from bench.backends.external import prepare_external

        options.target = prepare_external(options.target, console)
    else:
        raise ValueError(f"unknown backend {backend!r}")
