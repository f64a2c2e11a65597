"""The reference article's four performance claims, checked against a run.

Thresholds (stated in the report next to every verdict):
- "expensive": RequestResponse writes at least 2× the bytes per request of Metadata, and
  costs significantly more p99 latency or CPU than Metadata (raw-sample bootstrap interval of
  the p99 ratio above 1, or Fieller interval of the CPU ratio above 1).
- "cheap": Metadata's p99 within 10% and CPU-ms per 1k requests within 25% of no audit.
- "dramatically": None rules at least halve the bytes per request under `noisy`, with the
  Fieller interval of that ratio below 1.
- "not 0": with batch-max-wait 0s the webhook sends at least 5× the batches per second of
  5s and at most 2 events per batch ("an HTTP request for every single audit event").
A claim whose variants this run lacks is "not tested by this run".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from bench.analysis.compare import Comparison, compare_variants
from bench.report import fmt

RULES = (
    "expensive: RequestResponse writes at least 2x the bytes per request of Metadata and costs significantly "
    "more p99 latency (bootstrap interval above 1) or CPU (Fieller interval above 1) than Metadata",
    "cheap: Metadata's p99 within 10% and CPU-ms per 1k requests within 25% of no audit",
    "dramatically: None rules at least halve bytes per request under `noisy`, Fieller interval below 1",
    "not 0: with batch-max-wait 0s the webhook sends at least 5x the batches/s of 5s and at most 2 events "
    "per batch (partly: at least 2x the batches)",
)

SUPPORTED, PARTLY, NOT_SUPPORTED, NOT_TESTED = "supported", "partly supported", "not supported", "not tested by this run"


@dataclass(frozen=True)
class Claim:
    key: str
    title: str
    statement: str
    verdict: str = NOT_TESTED
    evidence: tuple[str, ...] = ()
    needs: str = ""
    variants: tuple[str, ...] = field(default=())


CompareFn = Callable[[str, str], Comparison]


def _settings(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per variant: policy, profile and a key of its audit backend settings."""
    first = frame.groupby("variant_id", sort=False).first().reset_index()
    cols = ["log_enabled", "log_mode", "webhook_enabled", "webhook_mode", "webhook_batch_max_wait_s"]
    first["audit_key"] = first[cols].apply(lambda r: "|".join(str(x) for x in r), axis=1)
    return first


def _pairs(frame: pd.DataFrame, a: str, b: str, profiles: tuple[str, ...] = ("mixed",)) -> list[tuple[str, str, str]]:
    """(profile, a_id, b_id) for policies a and b with identical audit settings; preferred profiles first."""
    s = _settings(frame)
    out = []
    for (profile, key), g in s.groupby(["profile", "audit_key"], sort=False):
        ga, gb = g[g["policy"] == a], g[g["policy"] == b]
        if not ga.empty and not gb.empty:
            out.append((str(profile), str(ga["variant_id"].iloc[0]), str(gb["variant_id"].iloc[0])))
    # prefer the requested profiles, then webhook-less or 5s settings (the article's advice)
    out.sort(key=lambda t: (t[0] not in profiles, ".wh-batch-0s." in t[1]))
    return out


def _baseline(frame: pd.DataFrame, profile: str) -> str | None:
    b = frame[(frame["is_baseline"] == True) & (frame["profile"] == profile)]  # noqa: E712
    return None if b.empty else str(b["variant_id"].iloc[0])


def _r(c: Comparison, metric: str):
    row = c.row(metric)
    return row.ratio if row else None


def _v(c: Comparison, metric: str, side: str = "candidate") -> float | None:
    row = c.row(metric)
    return getattr(row, side).mean if row else None


def claim_requestresponse(frame: pd.DataFrame, cmp: CompareFn) -> Claim:
    claim = Claim("requestresponse-expensive", "RequestResponse is expensive",
                  "Logging full request and response bodies generates massive log volumes and increases API server latency.",
                  needs="policies requestresponse-all and metadata-all with the same audit settings")
    pairs = _pairs(frame, "metadata-all", "requestresponse-all")
    if not pairs:
        return claim
    profile, meta, rr = pairs[0]
    c = cmp(meta, rr)
    bytes_ratio = _r(c, "bytes_per_request")
    cpu = _r(c, "cpu_ms_per_1k")
    lat = c.latency
    ev = [
        f"profile `{profile}`: bytes/request {fmt.num(_v(c, 'bytes_per_request'))} (RequestResponse) vs "
        f"{fmt.num(_v(c, 'bytes_per_request', 'reference'))} (Metadata): {fmt.ratio(bytes_ratio)}",
        f"CPU-ms per 1k requests RequestResponse/Metadata: {fmt.ratio(cpu)}",
        f"p99 latency RequestResponse/Metadata: {fmt.num(lat.p99_ratio) if lat else '–'}× "
        f"(bootstrap 95% [{fmt.num(lat.p99_ratio_low) if lat else '–'}, {fmt.num(lat.p99_ratio_high) if lat else '–'}]; "
        f"Mann-Whitney p={fmt.pvalue(lat.mw_pvalue) if lat else '–'})",
    ]
    base = _baseline(frame, profile)
    if base:
        for name, vid in (("RequestResponse", rr), ("Metadata", meta)):
            b = cmp(base, vid)
            ev.append(f"{name} vs no audit: p99 {fmt.ratio(_r(b, 'client_p99_ms'))}, CPU {fmt.ratio(_r(b, 'cpu_ms_per_1k'))}")
    volume = bytes_ratio is not None and bytes_ratio.value is not None and bytes_ratio.value >= 2
    costlier = bool(lat and lat.p99_ratio_low is not None and lat.p99_ratio_low > 1) or bool(
        cpu and cpu.low is not None and cpu.low > 1)
    verdict = SUPPORTED if volume and costlier else PARTLY if volume else NOT_SUPPORTED
    return Claim(claim.key, claim.title, claim.statement, verdict, tuple(ev), claim.needs, (meta, rr))


def claim_metadata(frame: pd.DataFrame, cmp: CompareFn) -> Claim:
    claim = Claim("metadata-cheap", "Metadata is cheap",
                  "Metadata adds minimal overhead and should be the default level for most resources.",
                  needs="policy metadata-all and the no-audit baseline")
    s = _settings(frame)
    meta = s[s["policy"] == "metadata-all"]
    meta = meta.assign(_pref=[(p != "mixed", ".wh-batch-0s." in v) for p, v in zip(meta["profile"], meta["variant_id"])])
    meta = meta.sort_values("_pref")
    for _, row in meta.iterrows():
        base = _baseline(frame, str(row["profile"]))
        if not base:
            continue
        c = cmp(base, str(row["variant_id"]))
        p99, cpu = _r(c, "client_p99_ms"), _r(c, "cpu_ms_per_1k")
        lat = c.latency
        ev = (
            f"profile `{row['profile']}`, variant `{row['variant_id']}` vs no audit:",
            f"p99 latency {fmt.ratio(p99)} over repeats; raw samples: "
            f"{lat.verdict() if lat else 'no raw samples'}",
            f"CPU-ms per 1k requests {fmt.ratio(cpu)}",
            f"bytes/request {fmt.num(_v(c, 'bytes_per_request'))}",
        )
        if p99 is None or p99.value is None or cpu is None or cpu.value is None:
            return Claim(claim.key, claim.title, claim.statement, NOT_TESTED, ev, claim.needs)
        cheap = p99.value <= 1.10 and cpu.value <= 1.25
        return Claim(claim.key, claim.title, claim.statement, SUPPORTED if cheap else NOT_SUPPORTED, ev,
                     claim.needs, (base, str(row["variant_id"])))
    return claim


def claim_none_rules(frame: pd.DataFrame, cmp: CompareFn) -> Claim:
    claim = Claim("none-cuts-volume", "None for noisy resources cuts volume dramatically",
                  "Excluding endpoints, events and health checks dramatically reduces log volume.",
                  needs="policies seed-production and seed-no-none-rules under the `noisy` profile")
    pairs = _pairs(frame, "seed-no-none-rules", "seed-production", profiles=("noisy",))
    if not pairs:
        return claim
    ev, verdict, used = [], NOT_TESTED, []
    for profile, without, with_none in pairs:
        c = cmp(without, with_none)
        r = _r(c, "bytes_per_request")
        ev.append(f"`{with_none}`, profile `{profile}`: bytes/request with None rules / without: {fmt.ratio(r)} "
                  f"({fmt.num(_v(c, 'bytes_per_request'))} vs {fmt.num(_v(c, 'bytes_per_request', 'reference'))}); "
                  f"events/request {fmt.ratio(_r(c, 'events_per_request'))}")
        if profile == "noisy" and verdict == NOT_TESTED and r is not None and r.value is not None:
            significant = r.high is not None and r.high < 1
            verdict = SUPPORTED if r.value <= 0.5 and significant else PARTLY if significant else NOT_SUPPORTED
            used = [without, with_none]
    return Claim(claim.key, claim.title, claim.statement, verdict, tuple(ev), claim.needs, tuple(used))


def claim_batch_wait(frame: pd.DataFrame, cmp: CompareFn) -> Claim:
    claim = Claim("batch-max-wait", "batch-max-wait 5s, not 0",
                  "A 5-second interval balances latency with throughput; 0 sends an HTTP request for every single audit event.",
                  needs="webhook batch mode with batch-max-wait 0s and 5s")
    s = _settings(frame)
    s = s[(s["webhook_mode"] == "batch")]
    s = s.assign(key=s["policy"] + "|" + s["profile"] + "|" + s["log_enabled"].astype(str))
    # prefer the article's policy, then the `mixed` profile
    for key, g in sorted(s.groupby("key"), key=lambda kv: (not kv[0].startswith("seed-production|"), "|mixed|" not in kv[0])):
        zero = g[g["webhook_batch_max_wait_s"] == 0]
        five = g[g["webhook_batch_max_wait_s"] == 5]
        if zero.empty or five.empty:
            continue
        z, f = str(zero["variant_id"].iloc[0]), str(five["variant_id"].iloc[0])
        c = cmp(f, z)
        batches = _r(c, "webhook_batches_per_s")
        per_batch = _v(c, "webhook_events_per_batch")
        lat = c.latency
        ev = (
            f"`{z}` vs `{f}`:",
            f"batches/s 0s/5s: {fmt.ratio(batches)}; events per batch at 0s: {fmt.num(per_batch)}, "
            f"at 5s: {fmt.num(_v(c, 'webhook_events_per_batch', 'reference'))}",
            f"delivery lag p99: {fmt.num(_v(c, 'webhook_lag_p99_ms'))} ms at 0s vs "
            f"{fmt.num(_v(c, 'webhook_lag_p99_ms', 'reference'))} ms at 5s",
            f"client p99 0s/5s: {fmt.ratio(_r(c, 'client_p99_ms'))}; raw samples: {lat.verdict() if lat else 'none'}",
            f"CPU-ms per 1k 0s/5s: {fmt.ratio(_r(c, 'cpu_ms_per_1k'))}",
            # With the default throttle, small batches cap delivery; the buffer then drops.
            f"events dropped (buffer full) per run: {fmt.num(_v(c, 'drops'))} at 0s vs "
            f"{fmt.num(_v(c, 'drops', 'reference'))} at 5s",
        )
        if batches is None or batches.value is None or per_batch is None:
            return Claim(claim.key, claim.title, claim.statement, NOT_TESTED, ev, claim.needs)
        verdict = (SUPPORTED if batches.value >= 5 and per_batch <= 2
                   else PARTLY if batches.value >= 2 else NOT_SUPPORTED)
        return Claim(claim.key, claim.title, claim.statement, verdict, ev, claim.needs, (f, z))
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
