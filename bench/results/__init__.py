"""Versioned result documents and the results/<run-id>/ store."""
