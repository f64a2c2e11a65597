"""kube-apiserver /metrics names the measurements read, in one place.

Audit counters (k8s.io/apiserver pkg/audit/metrics.go): AUDIT_ERRORS is labelled by plugin,
"buffered" counting events dropped because a backend's buffer was full, "webhook" and "log"
events a backend failed to deliver or write.
"""

from __future__ import annotations

DURATION = "apiserver_request_duration_seconds"
SLI_DURATION = "apiserver_request_sli_duration_seconds"
REQUESTS = "apiserver_request_total"
AUDIT_EVENTS = "apiserver_audit_event_total"
AUDIT_ERRORS = "apiserver_audit_error_total"
AUDIT_LEVELS = "apiserver_audit_level_total"
AUDIT_REJECTED = "apiserver_audit_requests_rejected_total"
CPU = "process_cpu_seconds_total"
RSS = "process_resident_memory_bytes"
ALLOCATED = "go_memstats_alloc_bytes_total"
HEAP_INUSE = "go_memstats_heap_inuse_bytes"
GOROUTINES = "go_goroutines"

# Only these families are parsed: the full text is ~2.5 MB and parsing all of it takes ~1 s.
WANTED = (
    f"{DURATION}_bucket", f"{DURATION}_count", f"{DURATION}_sum",
    f"{SLI_DURATION}_bucket", f"{SLI_DURATION}_count", f"{SLI_DURATION}_sum",
    REQUESTS, AUDIT_EVENTS, AUDIT_ERRORS, AUDIT_LEVELS, AUDIT_REJECTED,
    CPU, RSS, ALLOCATED, HEAP_INUSE, GOROUTINES,
)
# A time-series point needs only these (bench.measure.server.series_point), and the audit
# figures after the window only the audit counters: parsing them alone is ~50x faster.
SERIES = (HEAP_INUSE, GOROUTINES, RSS, AUDIT_EVENTS, AUDIT_ERRORS)
AUDIT = (AUDIT_EVENTS, AUDIT_ERRORS, AUDIT_LEVELS, AUDIT_REJECTED)
