"""Factsmith's Qt-free editing engine.

The public API is importable from here; names resolve lazily so ``import core`` stays
cheap (no torch or transformers until something is used)::

    from core import Fact, load_model, get_method
"""

from __future__ import annotations

import importlib

_API = {
    "Progress": "core.util.progress",
    "Cancelled": "core.util.progress",
    "Fact": "core.facts.fact",
    "Probe": "core.facts.fact",
    "FactError": "core.facts.fact",
    "fact_from_dict": "core.facts.fact",
    "LoadOptions": "core.model.loading",
    "LoadedModel": "core.model.loading",
    "load_model": "core.model.loading",
    "Delta": "core.edit.deltas",
    "apply_delta": "core.edit.deltas",
    "revert_delta": "core.edit.deltas",
    "delta_applied": "core.edit.deltas",
    "state_fingerprint": "core.model.fingerprint",
    "get_method": "core.methods",
    "method_names": "core.methods",
    "continuation": "core.model.generation",
    "continuations": "core.model.generation",
    "top_next_tokens": "core.model.generation",
    "demo_model_dir": "core.util.paths",
    "demo_edits_file": "core.util.paths",
    "read_facts": "core.facts.io",
    "evaluate": "core.metrics.evaluation",
    "capture_reference": "core.metrics.evaluation",
    "compute_edit": "core.workflows.editing",
    "run_independent": "core.workflows.runs",
    "run_sequential": "core.workflows.runs",
    "Workspace": "core.ledger",
}

__all__ = sorted(_API)


def __getattr__(name: str):
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'core' has no attribute {name!r}")
