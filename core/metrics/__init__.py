"""Building blocks of ``core.evaluation``: tokenising prompt/target pairs, batched
teacher-forced scoring, fluency, per-protocol scores and their JSON-ready results.

Import the public API from ``core.evaluation``; these modules are its parts.
"""
