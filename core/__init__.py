"""Factsmith's Qt-free editing engine.

The public API is importable from here; names resolve lazily so ``import core`` stays
cheap (no torch or transformers until something is used)::

    from core import Fact, load_model, get_method
"""

from __future__ import annotations

import importlib

_API = {
    "Progress": "core.progress",
    "Cancelled": "core.progress",
    "Fact": "core.facts",
    "Probe": "core.facts",
    "FactError": "core.facts",
    "fact_from_dict": "core.facts",
    "LoadOptions": "core.loading",
    "LoadedModel": "core.loading",
    "load_model": "core.loading",
    "Delta": "core.deltas",
    "apply_delta": "core.deltas",
    "revert_delta": "core.deltas",
    "delta_applied": "core.deltas",
    "state_fingerprint": "core.fingerprint",
    "get_method": "core.methods",
    "method_names": "core.methods",
    "continuation": "core.generation",
    "continuations": "core.generation",
    "top_next_tokens": "core.generation",
    "demo_model_dir": "core.paths",
    "demo_edits_file": "core.paths",
    "read_facts": "core.facts_io",
    "evaluate": "core.evaluation",
    "capture_reference": "core.evaluation",
    "compute_edit": "core.editing",
    "run_independent": "core.edit_runs",
    "run_sequential": "core.edit_runs",
    "Workspace": "core.ledger",
}

__all__ = sorted(_API)


def __getattr__(name: str):
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'core' has no attribute {name!r}")
