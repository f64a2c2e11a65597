"""Capacity projection: what a policy measured here costs at a target request rate.

Units: GB = 10^9 bytes; --audit-log-maxsize is in megabytes of 1024² bytes (lumberjack).
kube-apiserver semantics (k8s.io/apiserver/pkg/server/options/audit.go): maxsize 0 means
no rotation at all, maxbackup 0 means no limit on the number of old files, maxage 0 means
old files are not removed by age.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MB = 1024 * 1024
GB = 1e9
DAY = 86400.0


@dataclass(frozen=True)
class CapacityInput:
    rate_rps: float
    bytes_per_request: float | None
    events_per_request: float | None
    log_enabled: bool = True
    maxsize_mb: int | None = 100
    maxbackup: int | None = 10
    maxage_days: int | None = 30
    retention_days: float | None = None  # what the user must keep (compliance target)
    webhook_enabled: bool = False
    webhook_mode: str | None = None
    batch_max_size: int | None = None
    throttle_enable: bool | None = None
    throttle_qps: float | None = None
    buffer_size: int | None = None
    burst_factor: float = 3.0  # a burst is this many times the steady event rate
    cpu_ms_per_1k: float | None = None
    baseline_cpu_ms_per_1k: float | None = None
    p99_ratio: float | None = None
    # Intervals over repeats of the ratios against the baseline at the same offered load
    # (bench.analysis.compare): a cost whose interval includes none is not told from none.
    p99_ratio_interval: tuple[float, float] | None = None
    cpu_ratio_interval: tuple[float, float] | None = None
    # Measured: events/s the webhook delivered while the apiserver dropped events (buffer
    # full). Small batches (batch-max-wait 0s) cap delivery far below size × qps.
    measured_saturated_eps: float | None = None
    capacity_rps: float | None = None  # the variant's measured capacity (probe), if the run has one


@dataclass(frozen=True)
class CapacityPlan:
    bytes_per_day: float | None
    gb_per_day: float | None
    files_per_day: float | None
    retention_bytes: float | None  # what maxsize × (maxbackup+1) can hold; inf = no size limit
    days_covered: float | None  # how many days of logs the rotation keeps
    holds_maxage: bool | None
    holds_retention: bool | None
    disk_bytes: float | None  # disk the log needs at steady state
    event_rate: float | None  # audit events/s
    webhook_capacity: float | None  # events/s the batch backend can send (size × qps)
    webhook_headroom: float | None  # capacity / event rate; < 1 means drops at steady state
    buffer_fill_s: float | None  # seconds to fill the buffer in a burst; inf = never
    added_cores: float | None
    p99_overhead: float | None  # p99 ratio − 1
    added_cores_interval: tuple[float, float] | None = None
    p99_overhead_interval: tuple[float, float] | None = None
    capacity_headroom: float | None = None  # measured capacity / target rate; < 1: the apiserver cannot serve it
    notes: tuple[str, ...] = ()


def _log_volume(i: CapacityInput, notes: list[str]) -> dict[str, float | bool | None]:
    out: dict[str, float | bool | None] = dict.fromkeys(
        ("bytes_per_day", "gb_per_day", "files_per_day", "retention_bytes", "days_covered",
         "holds_maxage", "holds_retention", "disk_bytes"))
    if i.bytes_per_request is None:
        return out
    per_day = i.rate_rps * i.bytes_per_request * DAY
    out.update(bytes_per_day=per_day, gb_per_day=per_day / GB)
    if not i.log_enabled or i.maxsize_mb is None:
        return out
    if i.maxsize_mb == 0:
        notes.append("maxsize 0 disables rotation: the log grows without bound")
        out.update(files_per_day=0.0, retention_bytes=math.inf, days_covered=math.inf)
    else:
        size = i.maxsize_mb * MB
        out["files_per_day"] = per_day / size
        keep = math.inf if not i.maxbackup else size * (i.maxbackup + 1)
        if not i.maxbackup:
            notes.append("maxbackup 0 keeps any number of old files (maxage alone limits them)")
        out["retention_bytes"] = float(keep)
        out["days_covered"] = keep / per_day if per_day > 0 else math.inf
    covered = out["days_covered"]
    age_limit = i.maxage_days if i.maxage_days else math.inf
    assert isinstance(covered, float)
    out["holds_maxage"] = covered >= age_limit if i.maxage_days else None
    out["holds_retention"] = min(covered, age_limit) >= i.retention_days if i.retention_days else None
    out["disk_bytes"] = per_day * min(covered, age_limit) if math.isfinite(min(covered, age_limit)) else math.inf
    return out


def _webhook(i: CapacityInput, event_rate: float | None, notes: list[str]) -> dict[str, float | None]:
    out: dict[str, float | None] = {"webhook_capacity": None, "webhook_headroom": None, "buffer_fill_s": None}
    if not i.webhook_enabled or event_rate is None:
        return out
    if i.webhook_mode != "batch":
        notes.append(f"webhook mode {i.webhook_mode}: no buffer, every request waits for delivery")
        return out
    if not i.throttle_enable or not i.batch_max_size or not i.throttle_qps:
        notes.append("webhook throttle off: send rate limited only by the receiver")
        return out
    capacity = i.batch_max_size * i.throttle_qps
    if i.measured_saturated_eps is not None and i.measured_saturated_eps < capacity:
        notes.append(f"measured: the webhook delivered only {i.measured_saturated_eps:,.0f} events/s while the "
                     f"apiserver dropped events, not {capacity:,.0f} (batch-max-size × qps); using the measured rate")
        capacity = i.measured_saturated_eps
    out["webhook_capacity"] = capacity
    out["webhook_headroom"] = capacity / event_rate if event_rate > 0 else math.inf
    burst = event_rate * i.burst_factor
    if i.buffer_size:
        out["buffer_fill_s"] = i.buffer_size / (burst - capacity) if burst > capacity else math.inf
    return out


def plan(i: CapacityInput) -> CapacityPlan:
    notes: list[str] = []
    event_rate = i.rate_rps * i.events_per_request if i.events_per_request is not None else None
    added = None
    if i.cpu_ms_per_1k is not None and i.baseline_cpu_ms_per_1k is not None:
        # ms of CPU per 1,000 requests -> CPU-seconds per request × requests/s = cores
        added = (i.cpu_ms_per_1k - i.baseline_cpu_ms_per_1k) / 1000.0 / 1000.0 * i.rate_rps
    overhead = i.p99_ratio - 1 if i.p99_ratio is not None and math.isfinite(i.p99_ratio) else None
    added_iv = None
    if i.cpu_ratio_interval is not None and i.baseline_cpu_ms_per_1k is not None:
        per_req = i.baseline_cpu_ms_per_1k / 1000.0 / 1000.0 * i.rate_rps
        added_iv = ((i.cpu_ratio_interval[0] - 1) * per_req, (i.cpu_ratio_interval[1] - 1) * per_req)
    overhead_iv = None
    if i.p99_ratio_interval is not None and all(math.isfinite(x) for x in i.p99_ratio_interval):
        overhead_iv = (i.p99_ratio_interval[0] - 1, i.p99_ratio_interval[1] - 1)
    headroom = i.capacity_rps / i.rate_rps if i.capacity_rps and i.rate_rps > 0 else None
    if headroom is not None and headroom < 1:
        notes.append(f"the measured capacity ({i.capacity_rps:,.0f} req/s on this machine) is below the target rate")
    return CapacityPlan(
        **_log_volume(i, notes),  # type: ignore[arg-type]
        event_rate=event_rate,
        **_webhook(i, event_rate, notes),
        added_cores=added,
        p99_overhead=overhead,
        added_cores_interval=added_iv,
        p99_overhead_interval=overhead_iv,
        capacity_headroom=headroom,
        notes=tuple(notes),
    )


@dataclass(frozen=True)
class Basis:
    """Which measurements a projection at ``rate`` uses, and how."""

    method: str  # "measured" | "interpolated" | "extrapolated" | "closed loop"
    rates: tuple[float, ...]  # the measured offered rates it uses
    note: str = ""


def basis_for(measured: list[float], rate: float, tolerance: float = 0.05) -> Basis:
    """Measured at ``rate`` (within ``tolerance``), interpolated between the two measured rates
    that bracket it, or extrapolated from the nearest one (per-request costs held constant)."""
    if not measured:
        return Basis("closed loop", (), "only closed-loop runs: per-request costs of a saturated server, "
                     "held constant at the target rate")
    ordered = sorted(measured)
    near = min(ordered, key=lambda r: abs(r - rate))
    if abs(near - rate) <= tolerance * rate:
        return Basis("measured", (near,))
    below = [r for r in ordered if r < rate]
    above = [r for r in ordered if r > rate]
    if below and above:
        return Basis("interpolated", (below[-1], above[0]), f"linear between {below[-1]:g} and {above[0]:g} req/s")
    return Basis("extrapolated", (near,), f"per-request costs measured at {near:g} req/s, held constant up to "
                 f"{rate:g} req/s: {'above' if rate > near else 'below'} every measured rate")


def resolved(interval: tuple[float, float] | None) -> bool | None:
    """Whether an interval of a cost excludes zero (None: no interval)."""
    if interval is None:
        return None
    return interval[0] > 0 or interval[1] < 0


def _at(values: dict[float, float | None], basis: Basis, rate: float) -> float | None:
    """A figure at ``rate`` from per-rate means, by the basis' method."""
    if basis.method == "interpolated":
        (a, b) = basis.rates
        va, vb = values.get(a), values.get(b)
        if va is None or vb is None:
            return va if vb is None else vb
        return va + (vb - va) * (rate - a) / (b - a)
    if basis.rates:
        return values.get(basis.rates[0])
    return next(iter(values.values()), None)


def _family(variant_id: str) -> str:
    """A variant id without its offered-load part (".r200", ".c50")."""
    import re

    return re.sub(r"\.(r|c)[0-9.]+$", "", variant_id)


def inputs_from_run(frame, comparisons, rate: float, profile: str, retention_days: float | None = None,
                    burst_factor: float = 3.0) -> list[tuple[str, str, CapacityInput, Basis]]:
    """(variant family, policy, input, basis) per audited variant family of ``profile``: repeat
    means at the measured offered rates at or bracketing ``rate`` (bench.analysis.capacity.basis_for),
    and the p99 ratio against the baseline at the same offered load."""
    from bench.analysis.compare import baseline_for, load_key
    from bench.analysis.stats import ok_rows

    ok = ok_rows(frame)
    ok = ok[ok["profile"] == profile]
    by_cand = {c.candidate: c for c in comparisons}
    out = []
    audited = ok[ok["is_baseline"] == False]  # noqa: E712
    for family, g in audited.groupby(audited["variant_id"].map(_family), sort=False):
        open_rows = g[(g["mode"] == "open") & g["target_rps"].notna()] if "mode" in g else g.iloc[0:0]
        rates = sorted(set(float(r) for r in open_rows["target_rps"])) if not open_rows.empty else []
        basis = basis_for(rates, rate)
        use = open_rows[open_rows["target_rps"].isin(basis.rates)] if basis.rates else g
        per_rate = {float(r) if basis.rates else 0.0: sub for r, sub in
                    (use.groupby("target_rps") if basis.rates else [(0.0, use)])}

        def fig(col: str) -> float | None:
            return _at({r: _mean(sub, col) for r, sub in per_rate.items()}, basis, rate)

        def base_fig(col: str) -> float | None:
            vals = {}
            for r, sub in per_rate.items():
                bid = baseline_for(frame, profile, load_key(sub.iloc[0]))
                vals[r] = _mean(ok[ok["variant_id"] == bid], col) if bid else None
            return _at(vals, basis, rate)

        def ratio(metric: str, part: str = "value") -> float | None:
            vals = {}
            for r, sub in per_rate.items():
                comp = by_cand.get(str(sub["variant_id"].iloc[0]))
                row = comp.row(metric) if comp else None
                vals[r] = getattr(row.ratio, part) if row else None
            return _at(vals, basis, rate)

        def ratio_interval(metric: str) -> tuple[float, float] | None:
            # Interpolated bounds between two bracketing rates: an approximation, as is the
            # interpolated value itself.
            low, high = ratio(metric, "low"), ratio(metric, "high")
            return (low, high) if low is not None and high is not None else None

        first = g.iloc[0]
        out.append((family, str(first["policy"]), CapacityInput(
            rate_rps=rate, bytes_per_request=fig("bytes_per_request"),
            events_per_request=fig("events_per_request"), log_enabled=bool(first.get("log_enabled")),
            maxsize_mb=_int(first.get("log_maxsize")), maxbackup=_int(first.get("log_maxbackup")),
            maxage_days=_int(first.get("log_maxage")), retention_days=retention_days,
            webhook_enabled=bool(first.get("webhook_enabled")), webhook_mode=first.get("webhook_mode"),
            batch_max_size=_int(first.get("webhook_batch_max_size")),
            throttle_enable=_bool(first.get("webhook_throttle_enable")),
            throttle_qps=_float(first.get("webhook_throttle_qps")),
            buffer_size=_int(first.get("webhook_batch_buffer_size")), burst_factor=burst_factor,
            cpu_ms_per_1k=fig("cpu_ms_per_1k"), baseline_cpu_ms_per_1k=base_fig("cpu_ms_per_1k"),
            p99_ratio=ratio("client_p99_ms"), p99_ratio_interval=ratio_interval("client_p99_ms"),
            cpu_ratio_interval=ratio_interval("cpu_ms_per_1k"),
            measured_saturated_eps=_saturated_eps(g), capacity_rps=_mean(g, "capacity_rps"),
        ), basis))
    return out


def _saturated_eps(g) -> float | None:
    """Webhook events delivered per second in runs where the apiserver dropped events."""
    if not {"drops", "webhook_delivery_eps"} <= set(g.columns):
        return None
    dropping = g[(g["drops"].fillna(0) > 0) & g["webhook_delivery_eps"].notna()]
    if dropping.empty:
        return None
    return float(dropping["webhook_delivery_eps"].mean())


def _mean(g, col: str) -> float | None:
    if col not in g:
        return None
    v = g[col].astype(float).mean()
    return None if math.isnan(v) else float(v)


def _float(v) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _int(v) -> int | None:
    f = _float(v)
    return None if f is None else int(f)


def _bool(v) -> bool | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else bool(v)
