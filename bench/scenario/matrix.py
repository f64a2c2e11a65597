"""Expand a scenario into variants with stable readable ids, and order the repeats.

Id shape: ``<policy>.<log>.<webhook>.<profile>[.<rate>]``, e.g.
``seed-production.log.wh-batch-5s.mixed.r200``; parts that do not apply are left out, and
the no-audit baseline is ``baseline.<profile>[.<rate>]``.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.controlplane.audit import WebhookBackend
from bench.durations import format_duration
from bench.errors import InputError
from bench.scenario.loader import policy_name, resolve_policy
from bench.scenario.model import LogMatrix, Scenario, WebhookMatrix, load_named_profile

BASELINE = "baseline"
# Variant ids name a batch size or buffer only where it differs from the setting's default.
_DEFAULT_BATCH = WebhookBackend().batch


@dataclass(frozen=True)
class LogSettings:
    """--audit-log-* for one variant (path is chosen by the backend)."""

    maxage: int
    maxbackup: int
    maxsize: int
    mode: str
    format: str
    compress: bool
    batch_max_size: int | None
    batch_buffer_size: int | None
    batch_max_wait_s: float | None


@dataclass(frozen=True)
class WebhookSettings:
    """--audit-webhook-* for one variant; batch_* and throttle_* are None outside batch mode
    because kube-apiserver ignores them there (options/audit.go wrapBackend)."""

    mode: str
    batch_max_wait_s: float | None
    batch_max_size: int | None
    batch_buffer_size: int | None
    throttle_enable: bool | None
    throttle_qps: float | None
    throttle_burst: int | None
    initial_backoff_s: float | None
    receiver_delay_ms: float
    receiver_error_rate: float
    receiver_down_for_s: float
    receiver_fault_at_s: float | None = None  # a fault stretch in the window (ReceiverFaults)
    receiver_fault_for_s: float | None = None


@dataclass(frozen=True)
class LoadSettings:
    mode: str
    users: int | None
    target_rps: float | None  # None for a capacity fraction until the run measured the capacity
    duration_s: float | None
    requests: int | None
    warmup_s: float
    schedule: str = "constant"
    rate_fraction: float | None = None  # of the baseline's capacity (traffic.capacity_fractions)
    objects_count: int | None = None  # growth collection (traffic.objects): configmaps ...
    object_size_kb: float | None = None  # ... of this size each
    nodes: int | None = None  # simulated kubelets (traffic.nodes, a kubelet profile)
    profiles_file: str | None = None  # traffic.profiles_file (None: the shipped profiles.yaml)

    @property
    def objects(self) -> tuple[int, float] | None:
        return (self.objects_count, self.object_size_kb) if self.objects_count and self.object_size_kb else None


@dataclass(frozen=True)
class Variant:
    id: str
    policy: str  # name; "baseline" for the no-audit variant
    policy_path: Path | None  # None: no --audit-policy-file, so no audit flags at all
    profile: str
    log: LogSettings | None
    webhook: WebhookSettings | None
    load: LoadSettings
    is_baseline: bool
    backend: str
    timeout_s: float
    series_interval_s: float | None = None  # scenario timeseries: per-second series (bench.measure.series)
    kubernetes: str | None = None  # a release from the scenario's kubernetes axis; None: the pinned one

    def audit_dict(self) -> dict[str, Any]:
        """The `variant.audit` section of a result document."""
        if self.backend == "external":  # not ours to set: the result says so
            return {"as_configured": True, "log": {"enabled": None}, "webhook": {"enabled": None}}
        log = {"enabled": False} if self.log is None else {"enabled": True, **asdict(self.log)}
        wh = {"enabled": False} if self.webhook is None else {"enabled": True, **asdict(self.webhook)}
        return {"log": log, "webhook": wh}

    def spec_dict(self) -> dict[str, Any]:
        """The `variant` section of a result document (bench.results.schema.VariantSpec)."""
        return {
            "policy": self.policy,
            "audit": self.audit_dict(),
            "profile": self.profile,
            "load": {
                "mode": self.load.mode,
                "users": self.load.users,
                "target_rps": self.load.target_rps,
                "duration_s": self.load.duration_s,
                "requests": self.load.requests,
                "warmup_s": self.load.warmup_s,
                "schedule": self.load.schedule if self.load.mode == "open" else None,
                "rate_fraction": self.load.rate_fraction,
                "objects_count": self.load.objects_count,
                "object_size_kb": self.load.object_size_kb,
                "nodes": self.load.nodes,
                "profiles_file": self.load.profiles_file,
            },
            "is_baseline": self.is_baseline,
            "series_interval_s": self.series_interval_s,
            "kubernetes": self.kubernetes,
        }


def _log_options(m: LogMatrix) -> list[LogSettings | None]:
    out: list[LogSettings | None] = []
    for enabled in m.enabled:
        if not enabled:
            out.append(None)
            continue
        for mode in m.mode:
            batch = mode == "batch"
            out.append(
                LogSettings(
                    maxage=m.maxage, maxbackup=m.maxbackup, maxsize=m.maxsize, mode=mode,
                    format=m.format, compress=m.compress,
                    batch_max_size=m.batch_max_size if batch else None,
                    batch_buffer_size=m.batch_buffer_size if batch else None,
                    batch_max_wait_s=m.batch_max_wait if batch else None,
                )
            )
    return out


def _webhook_options(m: WebhookMatrix) -> list[WebhookSettings | None]:
    out: list[WebhookSettings | None] = []
    faults = dict(
        initial_backoff_s=m.initial_backoff,
        receiver_delay_ms=m.receiver.delay_ms,
        receiver_error_rate=m.receiver.error_rate,
        receiver_down_for_s=m.receiver.down_for_s,
        receiver_fault_at_s=m.receiver.fault_at,
        receiver_fault_for_s=m.receiver.fault_for,
    )
    for enabled in m.enabled:
        if not enabled:
            out.append(None)
            continue
        for mode in m.mode:
            if mode != "batch":
                out.append(WebhookSettings(mode, None, None, None, None, None, None, **faults))
                continue
            for wait, size, buf in itertools.product(m.batch_max_wait, m.batch_max_size, m.batch_buffer_size):
                t = m.throttle
                out.append(WebhookSettings(mode, wait, size, buf, t.enable, t.qps, t.burst, **faults))
    return list(dict.fromkeys(out))  # dedupe, keep order


def _log_part(log: LogSettings | None) -> str | None:
    if log is None:
        return None
    return {"blocking": "log", "batch": "log-batch", "blocking-strict": "log-strict"}[log.mode]


def _webhook_part(wh: WebhookSettings | None) -> str | None:
    if wh is None:
        return None
    if wh.mode != "batch":
        return {"blocking": "wh-blocking", "blocking-strict": "wh-strict"}[wh.mode]
    part = f"wh-batch-{format_duration(wh.batch_max_wait_s or 0.0)}"
    if wh.batch_max_size != _DEFAULT_BATCH.max_size:
        part += f"-n{wh.batch_max_size}"
    if wh.batch_buffer_size != _DEFAULT_BATCH.buffer_size:
        part += f"-buf{wh.batch_buffer_size}"
    return part


def _rate_part(s: Scenario, rate: float | None, fraction: float | None, scale: float | None = None) -> str | None:
    if scale is not None:
        return f"x{scale:g}"
    if fraction is not None:
        return f"c{fraction * 100:g}"
    return f"r{rate:g}" if s.traffic.rates is not None else None


def objects_part(count: int, size_kb: float) -> str:
    """``n1000-s16k``: 1,000 objects of 16 KB."""
    return f"n{count}-s{size_kb:g}k"


def _loads(s: Scenario, collection: bool = True, kubelet: bool = False,
           captured_rps: float | None = None) -> list[tuple[str | None, LoadSettings]]:
    """(id part, load) per offered rate (and growth collection, and node count): ``r200`` for
    200 req/s, ``c50`` for half the baseline's capacity, ``n1000-s16k.r200`` with a collection,
    ``nodes500`` for 500 simulated kubelets; no part for closed loop or a single ``target_rps``.
    ``collection``/``kubelet``: whether the profile reads a collection / simulates kubelets."""
    t = s.traffic
    points: list[tuple[int, float] | None] = list(t.objects.points()) if t.objects and collection else [None]
    fleet: list[int | None] = list(t.nodes) if t.nodes and kubelet else [None]
    out = []
    scales: list[float | None] = list(t.rate_scales) if t.rate_scales else [None] * len(t.offered(captured_rps))
    for obj, nodes in itertools.product(points, fleet):
        for (rate, fraction), scale in zip(t.offered(captured_rps), scales):
            load = LoadSettings(t.mode, nodes or t.users, rate, t.duration, t.requests, t.warmup, t.schedule,
                                fraction, *(obj or (None, None)), nodes, t.profiles_file)
            parts = [objects_part(*obj) if obj else None, f"nodes{nodes}" if nodes else None,
                     _rate_part(s, rate, fraction, scale)]
            out.append((".".join(p for p in parts if p) or None, load))
    return out


def _release_part(version: str | None) -> str | None:
    """``k8s-v1.36.3``: a variant of the scenario's kubernetes axis."""
    return f"k8s-{version}" if version else None




def expand(scenario: Scenario, policies: Path | None = None) -> list[Variant]:
    """Every policy × log option × webhook option × profile, then one baseline per profile.

    Combinations with neither backend enabled are left out: a policy with no backend
    audits nothing, which is the baseline's job.
    """
    timeout, series = scenario.variant_timeout_s(), scenario.timeseries
    logs, hooks = _log_options(scenario.audit.log), _webhook_options(scenario.audit.webhook)
    loads = {}
    for p in scenario.traffic.profiles:
        prof = load_named_profile(p, scenario.traffic.profiles_file)
        loads[p] = _loads(scenario, scenario.traffic.objects is not None and prof.reads_collection,
                          scenario.traffic.nodes is not None and prof.kubelet is not None, prof.rate_rps)
    profile_loads = [(p, pl) for p in scenario.traffic.profiles for pl in loads[p]]
    if scenario.backend == "external":
        return _as_configured(scenario, profile_loads, timeout, series)
    releases: list[str | None] = list(scenario.kubernetes) if scenario.kubernetes else [None]
    variants: list[Variant] = []
    for entry, log, wh, (profile, (rpart, load)), k8s in itertools.product(
            scenario.policies, logs, hooks, profile_loads, releases):
        if log is None and wh is None:
            continue
        name = policy_name(entry)
        vid = ".".join(p for p in (name, _log_part(log), _webhook_part(wh), profile, rpart, _release_part(k8s)) if p)
        variants.append(
            Variant(vid, name, resolve_policy(entry, policies), profile, log, wh, load, False,
                    scenario.backend, timeout, series, k8s)
        )
    if not variants:
        raise InputError(None, "audit", "the matrix is empty: enable the log or the webhook backend")
    if scenario.baseline:
        for (profile, (rpart, load)), k8s in itertools.product(profile_loads, releases):
            vid = ".".join(p for p in (BASELINE, profile, rpart, _release_part(k8s)) if p)
            variants.append(Variant(vid, BASELINE, None, profile, None, None, load, True, scenario.backend, timeout,
                                    series, k8s))
    _check_unique(variants)
    return variants


def _as_configured(scenario: Scenario, profile_loads: list[tuple[str, tuple[str | None, LoadSettings]]],
                   timeout: float, series: float | None) -> list[Variant]:
    """An external cluster: one variant per profile and load, under its audit settings as they are."""
    (policy,) = scenario.policies  # AS_CONFIGURED (the model refuses anything else)
    out = []
    for profile, (rpart, load) in profile_loads:
        vid = ".".join(p for p in (policy, profile, rpart) if p)
        out.append(Variant(vid, policy, None, profile, None, None, load, False, scenario.backend, timeout, series))
    return out


def _check_unique(variants: Sequence[Variant]) -> None:
    seen: set[str] = set()
    for v in variants:
        if v.id in seen:
            raise InputError(None, "policies", f"two variants share the id {v.id!r}")
        seen.add(v.id)


Step = tuple[Variant, int]


def schedule(variants: Sequence[Variant], repeats: int, seed: int) -> list[Step]:
    """Interleaved order: repeat r (1-based) runs every variant once, shuffled with the seed.

    Drift on a small machine then hits every variant alike instead of biasing whichever
    ran last. A shuffle that would run the same variant twice in a row across a repeat
    boundary is rotated so it does not.
    """
    rng = random.Random(seed)
    order: list[Step] = []
    previous: Variant | None = None
    for r in range(1, repeats + 1):
        batch = list(variants)
        rng.shuffle(batch)
        if len(batch) > 1 and batch[0] == previous:
            batch = batch[1:] + batch[:1]
        order.extend((v, r) for v in batch)
        previous = batch[-1] if batch else None
    return order


def remaining(order: Sequence[Step], finished: Iterable[tuple[str, int]]) -> list[Step]:
    """The steps of ``order`` not yet finished, in order (for --resume)."""
    done = set(finished)
    return [(v, r) for v, r in order if (v.id, r) not in done]


def order_from_manifest(variants: Sequence[Variant], stored: Iterable[tuple[str, int]]) -> list[Step]:
    """Rebuild a stored order (run.json `order`) against freshly expanded variants.

    The stored order is authoritative on resume, so a changed seed cannot reshuffle a
    half-finished run; an id that no longer exists means the scenario changed.
    """
    by_id = {v.id: v for v in variants}
    out: list[Step] = []
    for vid, r in stored:
        if vid not in by_id:
            raise InputError(None, "order", f"variant {vid!r} of the stored run is not in the scenario any more")
        out.append((by_id[vid], r))
    return out
