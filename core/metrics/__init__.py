"""Measuring edits: batched teacher-forced scoring, fluency, per-protocol scores and their
JSON-ready results, and ``evaluation`` (the public entry: ``evaluate``, ``capture_reference``).
Tokenising prompt/target pairs lives one layer down, in ``core.model.tokens``.
"""
