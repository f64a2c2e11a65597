"""Counters of the audit webhook receiver: batches, events, bytes, lag, levels, stages.

Pure and single-threaded: the receiver process owns one instance and asks it for a
snapshot. Memory stays bounded however long a run is: delivery lag goes into
log-scaled buckets (about 0.5 % relative resolution), batch sizes into a counter.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime, timezone
from typing import Any

import msgspec

# Events per batch, reported as ranges; the apiserver's default batch-max-size is 400.
_BATCH_RANGES: tuple[tuple[int, int | None], ...] = (
    (1, 1), (2, 10), (11, 50), (51, 100), (101, 200), (201, 400), (401, 1000), (1001, None),
)
_LAG_SCALE = 200.0  # bucket = int(log1p(lag_ms) * scale): ~0.01 ms wide at 1 ms, ~5 ms at 1 s


class EventHead(msgspec.Struct):
    """The few fields of an audit.k8s.io/v1 Event the counters need; the rest is skipped."""

    level: str = ""
    stage: str = ""
    stageTimestamp: str = ""


class EventListHead(msgspec.Struct):
    kind: str = ""
    apiVersion: str = ""
    items: list[EventHead] | None = None  # Go encodes an empty list as null


class EventListRaw(msgspec.Struct):
    """The items array exactly as sent, for the capture file (no re-encoding)."""

    items: msgspec.Raw = msgspec.Raw(b"[]")


class TimestampParser:
    """RFC 3339 (Go's metav1.MicroTime: "2006-01-02T15:04:05.000000Z") to unix seconds.

    The whole-second prefix is cached, since a batch's events share a few seconds; this
    keeps parsing near 1 µs per event. Anything else falls back to datetime.
    """

    def __init__(self) -> None:
        self._seconds: dict[str, float] = {}

    def second(self, head: str) -> float | None:
        """Unix seconds of a "2006-01-02T15:04:05" prefix (UTC), cached."""
        base = self._seconds.get(head)
        if base is None:
            if len(self._seconds) > 4096:
                self._seconds.clear()
            try:
                base = datetime.fromisoformat(head).replace(tzinfo=timezone.utc).timestamp()
            except ValueError:
                return None
            self._seconds[head] = base
        return base

    def __call__(self, text: str) -> float | None:
        if len(text) >= 20 and text[-1] == "Z" and text[10] == "T":
            base = self.second(text[:19])
            if base is None:
                return None
            frac = text[19:-1]
            if not frac:
                return base
            try:
                return base + float(frac)
            except ValueError:
                return None
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None


class LagHistogram:
    """Log-scaled histogram of milliseconds with an exact maximum."""

    def __init__(self) -> None:
        self.counts: Counter[int] = Counter()
        self.count = 0
        self.max_ms = 0.0
        self.negative = 0  # stageTimestamp after arrival: clock skew between hosts

    def add(self, lag_ms: float) -> None:
        if lag_ms < 0:
            self.negative += 1
            lag_ms = 0.0
        self.counts[int(math.log1p(lag_ms) * _LAG_SCALE)] += 1
        self.count += 1
        if lag_ms > self.max_ms:
            self.max_ms = lag_ms

    def quantile(self, q: float) -> float | None:
        """Nearest-rank quantile, reported as its bucket's midpoint (capped at the max)."""
        if self.count == 0:
            return None
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        for key in sorted(self.counts):
            seen += self.counts[key]
            if seen >= rank:
                mid = math.expm1((key + 0.5) / _LAG_SCALE)
                return min(mid, self.max_ms)
        return self.max_ms

    def summary(self) -> dict[str, float | None]:
        return {
            "p50": _round(self.quantile(0.50)),
            "p90": _round(self.quantile(0.90)),
            "p99": _round(self.quantile(0.99)),
            "max": _round(self.max_ms) if self.count else None,
        }


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def batch_range(size: int) -> str:
    for lo, hi in _BATCH_RANGES:
        if hi is None or size <= hi:
            if size >= lo:
                return str(lo) if lo == hi else (f"{lo}-{hi}" if hi is not None else f"{lo}+")
    return "0"


def size_quantile(sizes: Counter[int], total: int, q: float) -> int | None:
    """Nearest-rank quantile of batch sizes (exact: sizes are few distinct integers)."""
    if total == 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for size in sorted(sizes):
        seen += sizes[size]
        if seen >= rank:
            return size
    return max(sizes)


class WebhookStats:
    """Everything the receiver counts. ``record_batch`` is called once per accepted batch."""

    def __init__(self) -> None:
        self.batches = 0
        self.events = 0
        self.bytes = 0
        self.batch_sizes: Counter[int] = Counter()
        self.lag = LagHistogram()
        self.by_level: Counter[str] = Counter()
        self.by_stage: Counter[str] = Counter()
        self.http_errors: Counter[int] = Counter()
        self.rejected_batches = 0
        self.rejected_events = 0
        self.first_arrival: float | None = None
        self.last_arrival: float | None = None
        self._parse_ts = TimestampParser()

    def record_batch(self, received_at: float, nbytes: int, events: list[EventHead]) -> None:
        self.batches += 1
        self.events += len(events)
        self.bytes += nbytes
        self.batch_sizes[len(events)] += 1
        if self.first_arrival is None:
            self.first_arrival = received_at
        self.last_arrival = received_at
        by_level, by_stage, lag, parse = self.by_level, self.by_stage, self.lag, self._parse_ts
        # The hot loop (50,000+ events/s): a batch's events share a few distinct
        # seconds, so the parsed whole-second prefix is reused across events.
        last_head, last_base = "", 0.0
        counts, max_ms, n, log1p = lag.counts, lag.max_ms, 0, math.log1p
        for ev in events:
            by_level[ev.level] += 1
            by_stage[ev.stage] += 1
            text = ev.stageTimestamp
            ts: float | None
            if len(text) == 27 and text[19] == "." and text[26] == "Z":  # MicroTime, the usual case
                head = text[:19]
                if head != last_head:
                    base = parse.second(head)
                    if base is None:
                        continue
                    last_head, last_base = head, base
                ts = last_base + float(text[19:26])
            else:
                ts = parse(text) if text else None
                if ts is None:
                    continue
            lag_ms = (received_at - ts) * 1000.0
            if lag_ms < 0:
                lag.add(lag_ms)  # rare: counts the skew
                continue
            counts[int(log1p(lag_ms) * _LAG_SCALE)] += 1
            if lag_ms > max_ms:
                max_ms = lag_ms
            n += 1
        lag.count += n
        lag.max_ms = max_ms

    def record_error(self, code: int, events: int = 0) -> None:
        """A response with an error status; ``events`` the batch held (if it was decoded)."""
        self.http_errors[code] += 1
        self.rejected_batches += 1
        self.rejected_events += events

    def snapshot(self) -> dict[str, Any]:
        sizes = self.batch_sizes
        histogram: dict[str, int] = {}
        for size, n in sorted(sizes.items()):
            key = batch_range(size)
            histogram[key] = histogram.get(key, 0) + n
        return {
            "enabled": True,
            "batches": self.batches,
            "events": self.events,
            "bytes": self.bytes,
            "events_per_batch": {
                "mean": round(self.events / self.batches, 3) if self.batches else None,
                "p50": size_quantile(sizes, self.batches, 0.50),
                "p99": size_quantile(sizes, self.batches, 0.99),
                "max": max(sizes) if sizes else None,
                "histogram": histogram,
            },
            "lag_ms": self.lag.summary(),
            "lag_negative": self.lag.negative,
            "by_level": dict(self.by_level),
            "by_stage": dict(self.by_stage),
            "http_errors": sum(self.http_errors.values()),
            "http_errors_by_code": {str(code): n for code, n in sorted(self.http_errors.items())},
            "rejected": {"batches": self.rejected_batches, "events": self.rejected_events},
            "first_arrival": self.first_arrival,
            "last_arrival": self.last_arrival,
        }
