"""Pure analysis of variant results: statistics, comparison, gates, capacity."""
