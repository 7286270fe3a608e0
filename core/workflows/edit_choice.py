"""An edit as a reviewer asks for it: a named preset, overrides, and ``layer=auto``.

``factsmith edit``, ``factsmith run`` (the edit log) and the app's preview all compute
through here, so ``--preset default|tuned|VARIANT`` and ``--set layer=auto`` (or
``layers=auto``) mean the same everywhere. The chosen preset and, with ``auto``, the traced
layer are written into the outcome's environment, so the edit log records why the edit
used the layer it did.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from core.facts.fact import Fact
from core.methods import preset_variant, resolve_hparams
from core.model.loading import LoadedModel
from core.util.progress import Progress, silent
from core.workflows.auto_layer import AUTO_METHODS, TraceCache, auto_layer_hparams, auto_requested, strip_auto
from core.workflows.editing import EditOutcome, compute_edit
from core.workflows.tune_store import require_tuned_preset

__all__ = ["DEFAULT_PRESET", "compute_chosen_edit", "named_preset"]

DEFAULT_PRESET = "default"


def named_preset(lm: LoadedModel, method: str, name: str | None) -> Any | None:
    """The hyperparameters a preset name stands for (None: the method's default preset).
    ``tuned`` is the one ``factsmith tune`` saved for this model; anything else is a named
    variant (ValueError names the variants offered)."""
    if name in (None, "", DEFAULT_PRESET):
        return None
    if name == "tuned":
        return require_tuned_preset(lm, method)
    try:
        return preset_variant(lm, method, name)
    except ValueError as exc:  # trial 46: "offered: none", as if no name worked
        raise ValueError(f"{exc}; besides those, every method takes {DEFAULT_PRESET!r} (its preset) and 'tuned' "
                         "(the one `factsmith tune` saved for this model)") from None


def compute_chosen_edit(lm: LoadedModel, facts: Sequence[Fact], method: str,
                        overrides: Mapping[str, Any] | None = None, preset: str | None = None,
                        cache: TraceCache | None = None, progress: Progress | None = None,
                        **kwargs: Any) -> EditOutcome:
    """``compute_edit`` over the named preset, with ``layer(s)=auto`` resolved by tracing the
    facts first (a batch shares the most common traced layer). ``kwargs`` go to
    ``compute_edit`` (free prompts, preview tokens, reference)."""
    progress, overrides = progress or silent(), dict(overrides or {})
    auto = auto_requested(overrides)
    if auto and method.lower() not in AUTO_METHODS:
        raise ValueError(f"layer auto is offered for {', '.join(AUTO_METHODS)}, not {method}")
    hparams = resolve_hparams(lm, method, strip_auto(overrides), base=named_preset(lm, method, preset))
    choice = None
    if auto:
        hparams, choice = auto_layer_hparams(lm, method, hparams, facts, cache, progress=progress.stage(0.0, 0.2))
        progress = progress.stage(0.2, 1.0)
    outcome = compute_edit(lm, facts, method, hparams=hparams, progress=progress, **kwargs)
    chosen = {"preset": preset or DEFAULT_PRESET}
    if choice is not None:
        chosen["auto_layer"] = choice.to_dict()
    return dataclasses.replace(outcome, environment={**outcome.environment, **chosen})
