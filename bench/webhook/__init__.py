"""The audit webhook receiver: a server in its own process, its counters, its benchmark and CLI.

Used by the webhook measurement and by the backends (`up`, kind) alike."""
