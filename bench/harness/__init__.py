"""The harness measuring itself: `auditbench harness bench`."""
