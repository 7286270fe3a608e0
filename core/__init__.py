"""Factsmith's Qt-free editing engine.

The public API is importable from here; the CLI and the GUI use nothing else. Names
resolve lazily so ``import core`` stays cheap (no torch or transformers until something
is used)::

    from core import Fact, load_model, get_method, compute_edit

The layers below, lowest first, import only downwards (an import-linter layers contract
in pyproject.toml, checked by the test suite): util → edit → model → facts → methods →
metrics → workflows → ledger → cli. README.md, "How the code is organised", says what
each one holds.
"""

from __future__ import annotations

import importlib

# public name -> (module, attribute there), grouped by layer
_API: dict[str, tuple[str, str]] = {
    **{n: ("core.util.progress", n) for n in ("Progress", "ProgressEvent", "Cancelled")},
    **{n: ("core.util.paths", n) for n in ("demo_model_dir", "demo_edits_file", "default_workspace_path",
                                           "data_dir", "demo_editor_train_file", "demo_editor_val_file")},
    **{n: ("core.util.textdiff", n) for n in ("Segment", "word_diff")},
    "author_key": ("core.util.signing", "author_key"),
    "CONFIG_ENV": ("core.util.signing", "CONFIG_ENV"),
    **{n: ("core.edit.deltas", n) for n in ("Delta", "apply_delta", "revert_delta", "delta_applied")},
    **{n: ("core.model.loading", n) for n in ("DTYPES", "LoadOptions", "LoadedModel", "ModelInfo", "ModelLoadError",
                                              "check_memory", "load_model")},
    "InsufficientMemory": ("core.model.memory", "InsufficientMemory"),
    "state_fingerprint": ("core.model.fingerprint", "state_fingerprint"),
    "folder_fingerprint": ("core.model.fingerprint", "folder_fingerprint"),
    "apply_patch": ("core.ledger.patches", "apply_patch"),
    "patch_held_text": ("core.ledger.patch_measure", "held_text"),
    "decided_run_id": ("core.ledger.decided", "decided_run_id"),
    "is_reverted": ("core.ledger.state", "is_reverted"),
    "PatchTrust": ("core.ledger.patch_sign", "PatchTrust"),
    **{n: ("core.model.generation", n) for n in ("SamplingOptions", "continuation", "continuation_with_room",
                                                 "continuations", "top_next_tokens")},
    **{n: ("core.facts.fact", n) for n in ("Fact", "Probe", "FactError", "fact_from_dict", "fact_problems")},
    **{n: ("core.facts.io", n) for n in ("CSV_FIELDS", "FORMAT_NAMES", "FactsFileError", "FactsFileReport",
                                         "inspect_facts", "read_facts")},
    "load_rows": ("core.facts.io.sources", "load_rows"),
    **{n: ("core.facts.suggest", n) for n in ("suggest_locality", "suggest_old_answer")},
    **{n: ("core.methods", n) for n in ("EditError", "EditMethod", "get_method", "method_names", "preset_variant",
                                        "resolve_hparams")},
    "preset_variants": ("core.methods.presets", "preset_variants"),
    **{n: ("core.methods.hparams", n) for n in ("HParamError", "with_overrides")},
    **{n: ("core.metrics.evaluation", n) for n in ("evaluate", "capture_reference", "context_checker")},
    **{n: ("core.metrics.tracing", n) for n in ("TraceOptions", "TraceResult", "trace_fact", "trace_facts")},
    **{n: ("core.workflows.editing", n) for n in ("HEADLINE_METRICS", "EditOutcome", "compute_edit")},
    **{n: ("core.workflows.runs", n) for n in ("run_independent", "run_sequential")},
    **{n: ("core.workflows.auto_layer", n) for n in ("AutoLayerChoice", "TraceCache", "auto_layer_hparams",
                                                     "run_independent_auto", "strip_auto")},
    "compute_chosen_edit": ("core.workflows.edit_choice", "compute_chosen_edit"),
    "AUTO_LAYER_MIN_EFFECT": ("core.metrics.tracing", "MIN_EFFECT"),
    "TRACE_MIN_CLEAN_P": ("core.metrics.tracing", "MIN_CLEAN_P"),
    **{n: ("core.workflows.tune", n) for n in ("MIN_FACTS", "TuneError", "TuneResult", "candidate_count",
                                                "split_facts", "tune")},
    **{n: ("core.workflows.train", n) for n in ("TrainOptions", "TrainResult", "train_editor", "is_trainable",
                                                "trainable_methods", "default_training_steps")},
    "DEFAULT_TRAINING_STEPS": ("core.methods.presets", "DEFAULT_TRAINING_STEPS"),
    **{n: ("core.methods.editor_ckpt", n) for n in ("CheckpointEntry", "CheckpointError", "EditorRecord",
                                                    "default_checkpoint", "editor_checkpoints", "editors_dir",
                                                    "read_checkpoint",
                                                    "read_record")},
    **{n: ("core.workflows.tune_store", n) for n in ("TunedPreset", "TunedPresetError", "load_tuned_preset",
                                                     "require_tuned_preset", "save_tuned_preset", "scores_text",
                                                     "tune_and_save", "tuned_preset")},
    **{n: ("core.workflows.stats_plan", n) for n in ("StatsNeed", "needed_statistics", "compute_statistics")},
    "verdict_headline": ("core.workflows.verdict", "headline"),
    "verdict_unchecked": ("core.workflows.verdict", "unchecked"),
    "says_answer": ("core.metrics.results", "says_answer"),
    "VERDICT_RULES": ("core.workflows.verdict", "DEFAULT_RULES"),
    "phrase_advice": ("core.workflows.verdict", "phrase_advice"),
    **{n: ("core.workflows.gates", n) for n in ("DEFAULT_THRESHOLDS", "GateCheck", "GateWarning", "check_runs",
                                                "run_warnings", "unmeasured_metrics", "unmeasured_text",
                                                "verdict_failures", "verdict_unmeasured", "warning_text",
                                                "recorded_gate")},
    **{n: ("core.ledger", n) for n in ("STATUSES", "Workspace", "open_workspace")},
    **{n: ("core.ledger.errors", n) for n in ("CommitRefused", "LedgerError", "VerificationError",
                                                     "WorkspaceBusyError", "WorkspaceInUseError",
                                                     "DamagedWorkspaceError")},
    **{n: ("core.ledger.instance_lock", n) for n in ("InstanceLock", "LockHolder", "lock_workspace", "read_holder")},
    **{n: ("core.ledger.records", n) for n in ("CommitDetail", "CommitRecord", "DiffReport", "FactRecord",
                                               "RunFigures", "RunRecord")},
    "EXPORT_FORMATS": ("core.ledger.export", "EXPORT_FORMATS"),
    "DIFF_NOTE": ("core.ledger.diff", "DIFF_NOTE"),
    **{n: ("core.ledger.left_out", n) for n in ("Blocker", "LeftOut")},
    "explain_left_out": ("core.ledger.left_out", "explain"),
    "cli_main": ("core.cli.main", "main"),
    "cli_command_names": ("core.cli.main", "command_names"),
}

__all__ = sorted(_API)


def __getattr__(name: str):
    if name in _API:
        module, attribute = _API[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'core' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
