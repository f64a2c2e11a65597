"""auditbench: measure what Kubernetes audit logging costs."""

__version__ = "0.1.0"
