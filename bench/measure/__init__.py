"""Measurement of one variant: webhook receiver, apiserver metrics, /proc sampling, audit logs."""
