"""The receiver's counters: known answers for batch sizes, lag buckets and timestamps."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

import pytest

from bench.webhook.server import items_span
from bench.webhook.stats import (
    EventHead,
    LagHistogram,
    TimestampParser,
    WebhookStats,
    batch_range,
    size_quantile,
)


def _ts(unix: float) -> str:
    return datetime.fromtimestamp(unix, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.mark.parametrize(
    ("size", "label"),
    [(1, "1"), (2, "2-10"), (10, "2-10"), (11, "11-50"), (100, "51-100"), (400, "201-400"), (401, "401-1000"), (5000, "1001+")],
)
def test_batch_ranges(size, label):
    assert batch_range(size) == label


def test_size_quantiles_are_nearest_rank():
    sizes = Counter({1: 98, 400: 2})
    assert size_quantile(sizes, 100, 0.50) == 1
    assert size_quantile(sizes, 100, 0.98) == 1
    assert size_quantile(sizes, 100, 0.99) == 400
    assert size_quantile(Counter(), 0, 0.5) is None


def test_timestamp_parser_forms():
    parse = TimestampParser()
    base = datetime(2026, 2, 22, 10, 0, 1, tzinfo=timezone.utc).timestamp()
    assert parse("2026-02-22T10:00:01.123456Z") == pytest.approx(base + 0.123456, abs=1e-7)
    assert parse("2026-02-22T10:00:01Z") == base
    assert parse("2026-02-22T11:00:01+01:00") == base
    assert parse("yesterday") is None


def test_lag_histogram_is_within_half_a_percent():
    hist = LagHistogram()
    values = [0.2, 1.0, 3.0, 10.0, 50.0, 250.0, 1000.0, 5000.0, 30000.0, 60000.0]
    for v in values:
        hist.add(v)
    # Nearest rank over 10 values: p50 is the 5th (50 ms), p90 the 9th (30 s).
    assert hist.quantile(0.5) == pytest.approx(50.0, rel=0.005)
    assert hist.quantile(0.9) == pytest.approx(30000.0, rel=0.005)
    assert hist.quantile(0.1) == pytest.approx(0.2, abs=0.01)
    assert hist.quantile(1.0) == 60000.0  # capped at the exact maximum
    assert hist.max_ms == 60000.0
    assert LagHistogram().quantile(0.5) is None


def test_record_batch_counts_levels_stages_and_lag():
    stats = WebhookStats()
    arrival = 1_800_000_000.5
    events = [
        EventHead("Metadata", "ResponseComplete", _ts(arrival - 0.010)),
        EventHead("Metadata", "ResponseComplete", _ts(arrival - 0.020)),
        EventHead("Request", "ResponseStarted", _ts(arrival - 1.000)),
        EventHead("RequestResponse", "ResponseComplete", "2026-02-22T10:00:01Z"),  # another form
        EventHead("Metadata", "ResponseComplete", ""),  # no timestamp: counted, no lag
    ]
    stats.record_batch(arrival, 1234, events)
    stats.record_batch(arrival + 1, 100, events[:1])
    stats.record_error(500, 7)
    snap = stats.snapshot()
    assert snap["batches"] == 2 and snap["events"] == 6 and snap["bytes"] == 1334
    assert snap["by_level"] == {"Metadata": 4, "Request": 1, "RequestResponse": 1}
    assert snap["by_stage"] == {"ResponseComplete": 5, "ResponseStarted": 1}
    assert snap["events_per_batch"]["histogram"] == {"1": 1, "2-10": 1}
    assert snap["events_per_batch"]["mean"] == 3.0 and snap["events_per_batch"]["max"] == 5
    assert snap["http_errors"] == 1 and snap["http_errors_by_code"] == {"500": 1}
    assert snap["rejected"] == {"batches": 1, "events": 7}
    assert snap["first_arrival"] == arrival and snap["last_arrival"] == arrival + 1
    # Five lags: 10 ms, 20 ms, 1000 ms, ~1010 ms (the second batch), and a huge one (2026 vs 2027).
    assert snap["lag_ms"]["p50"] == pytest.approx(1000.0, rel=0.005)
    assert snap["lag_ms"]["max"] > 1e9


def test_negative_lag_is_counted_as_skew():
    stats = WebhookStats()
    stats.record_batch(100.0, 1, [EventHead("Metadata", "ResponseComplete", _ts(100.5))])
    snap = stats.snapshot()
    assert snap["lag_negative"] == 1 and snap["lag_ms"]["max"] == 0.0


def test_items_span_on_go_shaped_bodies():
    body = b'{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[{"a":[1]},{"b":"]"}]}\n'
    start, end = items_span(body)
    assert body[start:end] == b'[{"a":[1]},{"b":"]"}]'
    # Any other shape is left to the exact (slower) decoder.
    assert items_span(b'{"items":[1],"kind":"EventList"}') is None
    assert items_span(b'{"metadata":{"x":[1]},"items":[1]}') is None
