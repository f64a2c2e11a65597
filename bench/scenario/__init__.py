"""Scenario files: strict model, loader and matrix expansion."""
