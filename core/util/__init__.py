"""Lowest layer: atomic file writes, paths and caches, the progress/cancel protocol, word diffs."""
