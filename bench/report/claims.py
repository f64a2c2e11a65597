"""The reference article's four performance claims, checked against a run with evidence.

Each claim is decided by intervals over repeats (bench.analysis.verdict): supported,
not supported, or inconclusive (too few repeats, or an interval that straddles the bound).
Latency and CPU are compared at the same offered open-loop rate below saturation when the
run has fixed rates (the lowest rate at which every compared variant kept its schedule);
closed-loop runs are saturation tests, and their latency claims say so.

Bounds (printed in the report next to every verdict):
- "expensive": RequestResponse writes at least 2× Metadata's bytes per request, and costs
  more apiserver CPU per request or more p99 latency than Metadata (interval above 1).
- "cheap": Metadata's p99 at most 1.10× and CPU per request at most 1.25× no audit's
  (equivalence: the whole interval within the bound).
- "dramatically": the None rules at most halve bytes per request under `noisy`.
- "not 0": at batch-max-wait 0s the webhook sends at most 2 events per batch in the window
  (median) in every repeat, i.e. a request for about every event.
A claim whose variants this run lacks is "not tested by this run".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from bench.analysis import verdict as vd
from bench.analysis.compare import Comparison, compare_variants, load_key
from bench.analysis.paired import Ratio
from bench.report import fmt

RULES = (
    "expensive: RequestResponse writes at least 2× the bytes per request of Metadata and costs more CPU per "
    "request or p99 latency than Metadata (interval above 1)",
    "cheap: Metadata's p99 at most 1.10× and CPU per request at most 1.25× no audit's (whole interval within)",
    "dramatically: None rules at most halve bytes per request under `noisy` (whole interval at or below 0.5)",
    "not 0: at batch-max-wait 0s the webhook's median batch in the window holds at most 2 events, in every repeat",
    f"every verdict needs at least {vd.MIN_REPEATS} repeats",
)

NOT_TESTED = "not tested by this run"
SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE = vd.SUPPORTED, vd.NOT_SUPPORTED, vd.INCONCLUSIVE


@dataclass(frozen=True)
class Claim:
    key: str
    title: str
    statement: str
    verdict: str = NOT_TESTED
    evidence: tuple[str, ...] = ()
    needs: str = ""
    variants: tuple[str, ...] = field(default=())
    reason: str = ""


CompareFn = Callable[[str, str], Comparison]


def _settings(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per variant: policy, profile, load and a key of its audit backend settings."""
    first = frame.groupby("variant_id", sort=False).first().reset_index()
    cols = ["log_enabled", "log_mode", "webhook_enabled", "webhook_mode", "webhook_batch_max_wait_s"]
    first["audit_key"] = first[cols].apply(lambda r: "|".join(str(x) for x in r), axis=1)
    first["load_key"] = first.apply(load_key, axis=1) if not first.empty else []
    return first


def _load_order(s: pd.DataFrame, key: str) -> tuple[int, float]:
    """Prefer fixed rates (lowest first: furthest below saturation) over closed loop."""
    g = s[s["load_key"] == key]
    if key.split("|")[0] == "closed" or g.empty:
        return (1, 0.0)
    rate = g["target_rps"].iloc[0]
    return (0, float(rate) if rate is not None and not pd.isna(rate) else 0.0)


def _pairs(frame: pd.DataFrame, a: str, b: str, profiles: tuple[str, ...] = ("mixed",)) -> list[tuple[str, str, str]]:
    """(profile, a_id, b_id) for policies a and b with identical audit settings and load."""
    s = _settings(frame)
    out = []
    for (profile, key, load), g in s.groupby(["profile", "audit_key", "load_key"], sort=False):
        ga, gb = g[g["policy"] == a], g[g["policy"] == b]
        if not ga.empty and not gb.empty:
            out.append((str(profile), str(ga["variant_id"].iloc[0]), str(gb["variant_id"].iloc[0]), str(load)))
    # the requested profiles, webhook-less or 5s settings (the article's advice), lowest rate
    out.sort(key=lambda t: (t[0] not in profiles, ".wh-batch-0s." in t[1], _load_order(s, t[3])))
    return [(p, x, y) for p, x, y, _ in out]


def _baseline(frame: pd.DataFrame, variant_id: str) -> str | None:
    """The no-audit variant with the same profile and offered load."""
    s = _settings(frame)
    me = s[s["variant_id"] == variant_id]
    if me.empty:
        return None
    row = me.iloc[0]
    b = s[(s["is_baseline"] == True) & (s["profile"] == row["profile"]) & (s["load_key"] == row["load_key"])]  # noqa: E712
    return None if b.empty else str(b["variant_id"].iloc[0])


def _r(c: Comparison, metric: str) -> Ratio | None:
    row = c.row(metric)
    return row.ratio if row else None


def _v(c: Comparison, metric: str, side: str = "candidate") -> float | None:
    row = c.row(metric)
    return getattr(row, side).mean if row else None


def _load_note(frame: pd.DataFrame, vid: str) -> str:
    s = _settings(frame)
    key = s.loc[s["variant_id"] == vid, "load_key"]
    k, *extra = (key.iloc[0] if not key.empty else "closed").split("|")  # extra: collection, nodes, release
    note = ("closed loop (a saturation test: latency there is a throughput loss restated)" if k == "closed"
            else f"offered load {k[1:]} {'req/s' if k.startswith('r') else 'of baseline capacity'}")
    return note + "".join(f", {x}" for x in extra)


def any_of(*verdicts: vd.Verdict) -> vd.Verdict:
    """One supported part suffices; not supported only when every part is not."""
    for v in verdicts:
        if v.status == SUPPORTED:
            return v
    if all(v.status == NOT_SUPPORTED for v in verdicts):
        return verdicts[0]
    return next(v for v in verdicts if v.status == INCONCLUSIVE)


def _decided(claim: Claim, v: vd.Verdict, ev: list[str], used: tuple[str, ...]) -> Claim:
    return Claim(claim.key, claim.title, claim.statement, v.status, tuple(ev), claim.needs, used, v.reason)


def claim_requestresponse(frame: pd.DataFrame, cmp: CompareFn) -> Claim:
    claim = Claim("requestresponse-expensive", "RequestResponse is expensive",
                  "Logging full request and response bodies generates massive log volumes and increases API server latency.",
                  needs="policies requestresponse-all and metadata-all with the same audit settings and load")
    pairs = _pairs(frame, "metadata-all", "requestresponse-all")
    if not pairs:
        return claim
    profile, meta, rr = pairs[0]
    c = cmp(meta, rr)
    volume, cpu, p99 = _r(c, "bytes_per_request"), _r(c, "cpu_ms_per_1k"), _r(c, "client_p99_ms")
    ev = [
        f"profile `{profile}`, {_load_note(frame, rr)}",
        f"bytes/request {fmt.num(_v(c, 'bytes_per_request'))} (RequestResponse) vs "
        f"{fmt.num(_v(c, 'bytes_per_request', 'reference'))} (Metadata): {fmt.ratio(volume)}",
        f"apiserver CPU per request RequestResponse/Metadata: {fmt.ratio(cpu)}",
        f"client p99 RequestResponse/Metadata: {fmt.ratio(p99)}",
    ]
    base = _baseline(frame, rr)
    if base:
        for name, vid in (("RequestResponse", rr), ("Metadata", meta)):
            b = cmp(base, vid)
            ev.append(f"{name} vs no audit: p99 {fmt.ratio(_r(b, 'client_p99_ms'))}, CPU/request {fmt.ratio(_r(b, 'cpu_ms_per_1k'))}")
    v = vd.combine(vd.at_least(volume, 2.0), any_of(vd.more(cpu), vd.more(p99)))
    return _decided(claim, v, ev, (meta, rr))


def claim_metadata(frame: pd.DataFrame, cmp: CompareFn) -> Claim:
    claim = Claim("metadata-cheap", "Metadata is cheap",
                  "Metadata adds minimal overhead and should be the default level for most resources.",
                  needs="policy metadata-all and the no-audit baseline at the same load")
    s = _settings(frame)
    meta = s[s["policy"] == "metadata-all"]
    order = sorted(meta["variant_id"], key=lambda v: (
        str(s.loc[s["variant_id"] == v, "profile"].iloc[0]) != "mixed", ".wh-batch-0s." in v,
        _load_order(s, str(s.loc[s["variant_id"] == v, "load_key"].iloc[0]))))
    for vid in order:
        base = _baseline(frame, vid)
        if not base:
            continue
        c = cmp(base, vid)
        p99, cpu = _r(c, "client_p99_ms"), _r(c, "cpu_ms_per_1k")
        ev = [f"`{vid}` vs `{base}`, {_load_note(frame, vid)}:",
              f"client p99 {fmt.ratio(p99)}; raw samples: {c.latency.verdict() if c.latency else 'none'}",
              f"apiserver CPU per request {fmt.ratio(cpu)}",
              f"bytes/request {fmt.num(_v(c, 'bytes_per_request'))}"]
        v = vd.combine(vd.at_most(p99, 1.10), vd.at_most(cpu, 1.25))
        return _decided(claim, v, ev, (base, vid))
    return claim


def claim_none_rules(frame: pd.DataFrame, cmp: CompareFn) -> Claim:
    claim = Claim("none-cuts-volume", "None for noisy resources cuts volume dramatically",
                  "Excluding endpoints, events and health checks dramatically reduces log volume.",
                  needs="policies seed-production and seed-no-none-rules under the `noisy` profile")
    pairs = _pairs(frame, "seed-no-none-rules", "seed-production", profiles=("noisy",))
    if not pairs:
        return claim
    ev: list[str] = []
    decided: vd.Verdict | None = None
    used: tuple[str, ...] = ()
    for profile, without, with_none in pairs:
        c = cmp(without, with_none)
        r = _r(c, "bytes_per_request")
        ev.append(f"`{with_none}`, profile `{profile}`: bytes/request with None rules / without: {fmt.ratio(r)} "
                  f"({fmt.num(_v(c, 'bytes_per_request'))} vs {fmt.num(_v(c, 'bytes_per_request', 'reference'))}); "
                  f"events/request {fmt.ratio(_r(c, 'events_per_request'))}")
        if profile == "noisy" and decided is None:
            decided, used = vd.at_most(r, 0.5), (without, with_none)
    if decided is None:
        return Claim(claim.key, claim.title, claim.statement, NOT_TESTED, tuple(ev), claim.needs)
    return _decided(claim, decided, ev, used)


def claim_batch_wait(frame: pd.DataFrame, cmp: CompareFn) -> Claim:
    claim = Claim("batch-max-wait", "batch-max-wait 5s, not 0",
                  "A 5-second interval balances latency with throughput; 0 sends an HTTP request for every single audit event.",
                  needs="webhook batch mode with batch-max-wait 0s and 5s")
    s = _settings(frame)
    s = s[(s["webhook_mode"] == "batch")]
    s = s.assign(key=s["policy"] + "|" + s["profile"] + "|" + s["log_enabled"].astype(str) + "|" + s["load_key"])
    for key, g in sorted(s.groupby("key"), key=lambda kv: (not kv[0].startswith("seed-production|"), "|mixed|" not in kv[0])):
        zero = g[g["webhook_batch_max_wait_s"] == 0]
        five = g[g["webhook_batch_max_wait_s"] == 5]
        if zero.empty or five.empty:
            continue
        z, f = str(zero["variant_id"].iloc[0]), str(five["variant_id"].iloc[0])
        c = cmp(f, z)
        per_batch = frame.loc[(frame["variant_id"] == z) & frame["status"].isin(("ok", "leaked", "flagged")),
                              "webhook_events_per_batch"].dropna()
        ev = [
            f"`{z}` vs `{f}` ({_load_note(frame, z)}), batches by arrival in the window (the flush at shutdown apart):",
            f"median events per batch at 0s: {', '.join(fmt.num(x) for x in per_batch)} (per repeat); at 5s: "
            f"{fmt.num(_v(c, 'webhook_events_per_batch', 'reference'))}",
            f"batches/s 0s/5s: {fmt.ratio(_r(c, 'webhook_batches_per_s'))}; delivered events/s at 0s "
            f"{fmt.num(_v(c, 'webhook_delivery_eps'))} vs {fmt.num(_v(c, 'webhook_delivery_eps', 'reference'))} at 5s",
            f"delivery lag p99: {fmt.num(_v(c, 'webhook_lag_p99_ms'))} ms at 0s vs "
            f"{fmt.num(_v(c, 'webhook_lag_p99_ms', 'reference'))} ms at 5s",
            f"events dropped in the window (buffer full): {fmt.num(_v(c, 'drops'))} at 0s vs "
            f"{fmt.num(_v(c, 'drops', 'reference'))} at 5s; flushed at shutdown {fmt.num(_v(c, 'webhook_flushed_events'))} "
            f"vs {fmt.num(_v(c, 'webhook_flushed_events', 'reference'))}",
            f"client p99 0s/5s: {fmt.ratio(_r(c, 'client_p99_ms'))}; CPU per request 0s/5s: {fmt.ratio(_r(c, 'cpu_ms_per_1k'))}",
        ]
        n = len(per_batch)
        if n < vd.MIN_REPEATS:
            v = vd.Verdict(INCONCLUSIVE, f"{n} repeat(s), a verdict needs at least {vd.MIN_REPEATS}")
        elif (per_batch <= 2).all():
            v = vd.Verdict(SUPPORTED, f"median batch at 0s holds at most 2 events in all {n} repeats")
        elif (per_batch > 2).all():
            v = vd.Verdict(NOT_SUPPORTED, f"median batch at 0s holds more than 2 events in all {n} repeats")
        else:
            v = vd.Verdict(INCONCLUSIVE, "the repeats disagree")
        return _decided(claim, v, ev, (f, z))
    return claim


def evaluate(frame: pd.DataFrame, cmp: CompareFn) -> list[Claim]:
    return [claim_requestresponse(frame, cmp), claim_metadata(frame, cmp), claim_none_rules(frame, cmp),
            claim_batch_wait(frame, cmp)]


def comparer(frame: pd.DataFrame, samples_for, seed: int = 0, n_boot: int = 500) -> CompareFn:
    """A caching compare function over one run."""
    cache: dict[tuple[str, str], Comparison] = {}

    def cmp(ref: str, cand: str) -> Comparison:
        if (ref, cand) not in cache:
            cache[(ref, cand)] = compare_variants(frame, ref, cand, samples_for, seed=seed, n_boot=n_boot)
        return cache[(ref, cand)]

    return cmp
