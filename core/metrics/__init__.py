"""Building blocks of ``core.metrics.evaluation``: tokenising prompt/target pairs, batched
teacher-forced scoring, fluency, per-protocol scores and their JSON-ready results.

Import the public API from ``core.metrics.evaluation``; these modules are its parts.
"""
