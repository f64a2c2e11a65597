"""Reports: markdown/HTML run reports, comparisons with gates, capacity plans, exports."""
