"""Workflows over methods and metrics: compute-and-measure, runs, statistics planning, commit gates."""
