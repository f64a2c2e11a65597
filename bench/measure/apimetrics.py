"""kube-apiserver /metrics before and after a traffic window, reduced to deltas.

Scrape with :func:`scrape` (admin token), keep two :class:`Snapshot` s, and compute the
figures with the pure functions below:

- :func:`latency_server`: percentiles of ``apiserver_request_duration_seconds`` (and the
  ``_sli_`` variant, which excludes webhook and priority-and-fairness queue time) from bucket
  deltas, interpolated linearly within a bucket exactly as ClusterLoader2 does (its
  ``Histogram.Quantile`` calls k8s.io/component-base/metrics/testutil ``bucketQuantile``;
  the same rule as Prometheus' ``histogram_quantile``). Requests are filtered as CL2's
  APIResponsiveness filters them (``verb!="WATCH", subresource!~"log|exec|portforward|attach|proxy"``)
  and split into mutating and read-only verbs.
- :func:`audit_metrics`: ``apiserver_audit_*`` counters (``error_total{plugin="buffered"}``
  counts events dropped because the buffer was full; ``plugin="webhook"`` events the
  webhook failed to deliver after its retries).
- :func:`apiserver_process`: CPU seconds, resident memory at the end, bytes allocated, and
  request counts by verb and code.

The verb label holds the apiserver's canonical verbs (GET, LIST, WATCH, POST, PUT, PATCH,
APPLY, DELETE, CONNECT...; k8s.io/apiserver pkg/endpoints/metrics cleanVerb), not the audit
verbs (get, list, create...).
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from bench.controlplane.http import Client
from bench.errors import EnvironmentProblem
from bench.measure import metricnames as names
from bench.measure.metricnames import DURATION, SLI_DURATION

Labels = tuple[tuple[str, str], ...]  # sorted (name, value) pairs

_WANTED = frozenset(names.WANTED)
READONLY_VERBS = frozenset({"GET", "LIST"})
MUTATING_VERBS = frozenset({"POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION", "CREATE", "UPDATE"})
# CL2: verb!="WATCH", subresource!~"log|exec|portforward|attach|proxy" (PromQL regexes are anchored).
_EXCLUDED_VERBS = frozenset({"WATCH", "WATCHLIST", "CONNECT"})
_LONG_RUNNING_SUBRESOURCES = frozenset({"log", "exec", "portforward", "attach", "proxy"})


@dataclass(frozen=True)
class Snapshot:
    """Samples of the wanted families: sample name -> labels -> value."""

    taken_at: float
    samples: dict[str, dict[Labels, float]]

    def series(self, name: str) -> dict[Labels, float]:
        return self.samples.get(name, {})

    def value(self, name: str, default: float | None = None) -> float | None:
        """The value of an unlabelled sample (or the sum over its label sets)."""
        series = self.series(name)
        return sum(series.values()) if series else default


def _sample_name(line: str) -> str:
    """The metric name of a sample line (`name{labels} value` or `name value`)."""
    end = line.find("{")
    return line[:end] if end >= 0 else line.split(" ", 1)[0]


def _wanted_lines(text: str, wanted: frozenset[str]) -> str:
    keep = [line for line in text.splitlines() if line and line[0] != "#" and _sample_name(line) in wanted]
    return "\n".join(keep) + "\n"


def parse_metrics(text: str, taken_at: float | None = None, wanted: frozenset[str] | None = None) -> Snapshot:
    """Parse Prometheus text exposition into a :class:`Snapshot` (the ``wanted`` sample names
    only; by default every family a measurement reads)."""
    samples: dict[str, dict[Labels, float]] = defaultdict(dict)
    for family in text_string_to_metric_families(_wanted_lines(text, wanted or _WANTED)):
        for s in family.samples:
            samples[s.name][tuple(sorted(s.labels.items()))] = float(s.value)
    return Snapshot(time.time() if taken_at is None else taken_at, dict(samples))


def scrape(client: Client) -> Snapshot:
    """GET /metrics with the client's (admin) credentials."""
    resp = client.get("/metrics")
    if resp.status != 200:
        raise EnvironmentProblem(f"GET /metrics answered HTTP {resp.status}", "the admin identity needs /metrics access")
    return parse_metrics(resp.body.decode("utf-8", errors="replace"))


def delta(before: Snapshot, after: Snapshot, name: str) -> dict[Labels, float]:
    """Per label set, after minus before. A series that went down was reset (a restarted
    process): its after value is the increase, as Prometheus' increase() assumes."""
    old = before.series(name)
    out = {}
    for labels, value in after.series(name).items():
        prev = old.get(labels, 0.0)
        out[labels] = value - prev if value >= prev else value
    return out


# --- histogram quantiles ---------------------------------------------------------------
def bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """q-quantile of cumulative buckets [(upper bound, count)], sorted by bound, the last +Inf.

    The rule of k8s.io/component-base/metrics/testutil bucketQuantile (what CL2 uses):
    rank = q * total; take the first bucket whose cumulative count reaches the rank; in the
    first bucket interpolate from 0; in the +Inf bucket return the highest finite bound;
    otherwise interpolate linearly between the bucket's bounds.
    """
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    if len(buckets) < 2:
        return math.nan
    rank = q * buckets[-1][1]
    b = next((i for i in range(len(buckets) - 1) if buckets[i][1] >= rank), len(buckets) - 1)
    if b == 0:
        upper, count = buckets[0]
        return upper * (rank / count) if count else math.nan
    if b == len(buckets) - 1 and math.isinf(buckets[b][0]):
        return buckets[-2][0]
    lower_bound, lower_count = buckets[b - 1]
    upper_bound, upper_count = buckets[b]
    return lower_bound + (upper_bound - lower_bound) * ((rank - lower_count) / (upper_count - lower_count))


def summed_buckets(series: dict[Labels, float], keep: Callable[[dict[str, str]], bool]) -> list[tuple[float, float]]:
    """Cumulative buckets summed over the label sets ``keep`` accepts ("sum by (le)")."""
    by_le: dict[float, float] = defaultdict(float)
    for labels, value in series.items():
        d = dict(labels)
        if "le" in d and keep(d):
            by_le[float(d["le"])] += value
    buckets = sorted(by_le.items())
    if buckets and not math.isinf(buckets[-1][0]):
        raise ValueError("histogram without a +Inf bucket")
    return buckets


def bucket_bounds(q: float, buckets: list[tuple[float, float]]) -> tuple[float, float]:
    """(lower, upper) bounds of the bucket that holds the q-quantile's rank."""
    rank = q * buckets[-1][1]
    b = next((i for i in range(len(buckets) - 1) if buckets[i][1] >= rank), len(buckets) - 1)
    return (buckets[b - 1][0] if b else 0.0), buckets[b][0]


def percentile(q: float, buckets: list[tuple[float, float]]) -> tuple[float | None, list[float | None]]:
    """(q-quantile in ms, [lower, upper] bucket bounds in ms). No value is interpolated inside
    the first bucket (it would be a guess between 0 and its bound: the SLI histogram's first
    bucket is 50 ms wide): there the value is None and the bounds say "below the first bound"."""
    lo, hi = bucket_bounds(q, buckets)
    bounds = [round(lo * 1000, 3), None if math.isinf(hi) else round(hi * 1000, 3)]  # None: +Inf
    if lo == 0.0:
        return None, bounds
    return round(bucket_quantile(q, buckets) * 1000, 3), bounds


def _summary(buckets: list[tuple[float, float]]) -> dict[str, Any] | None:
    count = buckets[-1][1] if buckets else 0
    if count <= 0:
        return None
    out: dict[str, Any] = {"count": int(round(count)), "bounds_ms": {}}
    for q, key in ((0.50, "p50"), (0.90, "p90"), (0.99, "p99")):
        value, bounds = percentile(q, buckets)
        out[f"{key}_ms"] = value
        out["bounds_ms"][key] = bounds
    return out


def counted(labels: dict[str, str]) -> bool:
    """CL2's filter: no WATCH and no long-running CONNECT subresources."""
    return labels.get("verb") not in _EXCLUDED_VERBS and labels.get("subresource") not in _LONG_RUNNING_SUBRESOURCES


def is_mutating(labels: dict[str, str]) -> bool:
    return counted(labels) and labels.get("verb") in MUTATING_VERBS


def is_readonly(labels: dict[str, str]) -> bool:
    return counted(labels) and labels.get("verb") in READONLY_VERBS


def request_class(labels: dict[str, str]) -> str:
    """ClusterLoader2's latency class (resource, subresource, verb, scope) as
    "VERB resource[/subresource] scope", or "VERB <path>" for non-resource URLs (whose path
    the apiserver puts in the subresource label)."""
    resource, sub, verb = labels.get("resource", ""), labels.get("subresource", ""), labels.get("verb", "?")
    if not resource:
        return f"{verb} {sub or '-'}"
    name = f"{resource}/{sub}" if sub else resource
    scope = labels.get("scope", "")
    return f"{verb} {name} {scope}" if scope else f"{verb} {name}"


def latency_server(before: Snapshot, after: Snapshot) -> dict[str, Any]:
    """Server-side latency over the window: all / mutating / read-only, the SLI variant,
    and per request class."""
    dur = delta(before, after, f"{DURATION}_bucket")
    sli = delta(before, after, f"{SLI_DURATION}_bucket")
    classes: dict[str, dict[Labels, float]] = defaultdict(dict)
    for labels, value in dur.items():
        d = dict(labels)
        if counted(d):
            classes[request_class(d)][labels] = value
    by_class = {}
    for name, series in sorted(classes.items()):
        summary = _summary(summed_buckets(series, lambda _: True))
        if summary is not None:
            by_class[name] = summary
    return {
        "all": _summary(summed_buckets(dur, counted)),
        "mutating": _summary(summed_buckets(dur, is_mutating)),
        "readonly": _summary(summed_buckets(dur, is_readonly)),
        "sli_all": _summary(summed_buckets(sli, counted)),
        "sli_mutating": _summary(summed_buckets(sli, is_mutating)),
        "sli_readonly": _summary(summed_buckets(sli, is_readonly)),
        "by_class": by_class,
    }


# --- counters ------------------------------------------------------------------------------
def _by_label(series: dict[Labels, float], label: str) -> dict[str, int]:
    out: dict[str, float] = defaultdict(float)
    for labels, value in series.items():
        out[dict(labels).get(label, "")] += value
    return {k: int(round(v)) for k, v in sorted(out.items())}


def _total(series: dict[Labels, float]) -> int:
    return int(round(sum(series.values())))


def audit_metrics(before: Snapshot, after: Snapshot) -> dict[str, Any]:
    """Audit counters over the window. A series the apiserver has not created yet (no
    error so far) counts as zero."""
    return {
        "event_total": _total(delta(before, after, names.AUDIT_EVENTS)),
        "error_total": _by_label(delta(before, after, names.AUDIT_ERRORS), "plugin"),
        "level_total": _by_label(delta(before, after, names.AUDIT_LEVELS), "level"),
        "requests_rejected_total": _total(delta(before, after, names.AUDIT_REJECTED)),
    }


def requests_by_verb_code(series: dict[Labels, float]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for labels, value in series.items():
        d = dict(labels)
        out[d.get("verb", "")][d.get("code", "")] += value
    return {verb: {code: int(round(n)) for code, n in sorted(codes.items()) if n}
            for verb, codes in sorted(out.items()) if any(codes.values())}


def apiserver_process(before: Snapshot, after: Snapshot) -> dict[str, Any]:
    cpu = _scalar_delta(before, after, names.CPU)
    alloc = _scalar_delta(before, after, names.ALLOCATED)
    rss = after.value(names.RSS)
    heap = after.value(names.HEAP_INUSE)
    goroutines = after.value(names.GOROUTINES)
    return {
        "cpu_seconds": round(cpu, 3) if cpu is not None else None,
        "rss_end_bytes": int(rss) if rss is not None else None,
        "heap_inuse_end_bytes": int(heap) if heap is not None else None,
        "goroutines_end": int(goroutines) if goroutines is not None else None,
        "alloc_bytes": int(alloc) if alloc is not None else None,
        "requests_by_verb_code": requests_by_verb_code(delta(before, after, names.REQUESTS)),
        "window_s": round(after.taken_at - before.taken_at, 3),
    }


def _scalar_delta(before: Snapshot, after: Snapshot, name: str) -> float | None:
    a, b = after.value(name), before.value(name)
    if a is None or b is None:
        return None
    return a - b if a >= b else a


def summarize(before: Snapshot, after: Snapshot) -> dict[str, Any]:
    """Everything above in one document: {latency_server, audit, apiserver}."""
    return {
        "latency_server": latency_server(before, after),
        "audit": audit_metrics(before, after),
        "apiserver": apiserver_process(before, after),
    }
