"""``layer: auto``: edit where the causal trace says the model recalls the fact.

The traced layer is the argmax of the MLP restoration effect at the subject's last token
(``core.metrics.tracing``). Each method's layer field then becomes:

- ROME, GRACE: ``layer`` = the traced layer;
- FT-L, FT-M: ``layers`` = (the traced layer,);
- MEMIT: ``layers`` = a window as wide as the preset's (or the given) window, ending at
  the traced layer (as MEMIT's window ends at ROME's layer), shifted to fit the model.

A trace whose largest effect is below ``MIN_EFFECT``, or whose clean P(answer) is below
``MIN_CLEAN_P``, says nothing about the layer (on the
demo model: multi-token subjects such as "Papua New Guinea", recalled before their last
token): such a fact keeps the preset's layer and votes for nothing.

A ``TraceCache``, held by the caller (a CLI run, an app session), keeps one traced layer
per (model fingerprint, relation), the relation being the fact's ``relation`` or else its
prompt template ("{} is located in"): the first fact of a relation with an informative
trace is traced, the rest reuse its layer. Without a cache every fact is traced.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.facts.fact import Fact
from core.methods import get_method
from core.metrics.tracing import MIN_CLEAN_P, MIN_EFFECT, TraceOptions, trace_fact
from core.model.loading import LoadedModel
from core.util.progress import Progress, silent
from core.workflows.editing import compute_edit
from core.workflows.runs import FactRecord, build_report

__all__ = ["AUTO", "AUTO_METHODS", "AutoLayerChoice", "TraceCache", "auto_layer_hparams", "auto_override",
           "auto_requested", "layers_for", "relation_key", "run_independent_auto", "strip_auto", "traced_layers"]

log = logging.getLogger(__name__)

AUTO = "auto"


@dataclass(frozen=True)
class _Policy:
    field: str  # the hyperparameter holding the layer(s)
    window: bool  # a window of layers ending at the traced one (MEMIT), else one layer
    as_tuple: bool  # the field is a tuple of layers


AUTO_METHODS: dict[str, _Policy] = {
    "rome": _Policy("layer", window=False, as_tuple=False),
    "grace": _Policy("layer", window=False, as_tuple=False),
    "ft-l": _Policy("layers", window=False, as_tuple=True),
    "ft-m": _Policy("layers", window=False, as_tuple=True),
    "memit": _Policy("layers", window=True, as_tuple=True),
    "alphaedit": _Policy("layers", window=True, as_tuple=True),
    "comeba-hk": _Policy("layers", window=True, as_tuple=True),
}


def _policy(method: str) -> _Policy:
    key = method.lower()
    if key not in AUTO_METHODS:
        raise ValueError(f"layer auto is not available for {method!r}; it works with "
                         f"{', '.join(AUTO_METHODS)}. Set the layer by hand for this method.")
    return AUTO_METHODS[key]


class TraceCache:
    """Traced layers per (model fingerprint, relation key); the caller owns and keeps it."""

    def __init__(self) -> None:
        self._layers: dict[tuple[str, str], int] = {}

    def get(self, fingerprint: str, key: str) -> int | None:
        return self._layers.get((fingerprint, key))

    def put(self, fingerprint: str, key: str, layer: int) -> None:
        self._layers[(fingerprint, key)] = layer

    def __len__(self) -> int:
        return len(self._layers)


def relation_key(fact: Fact) -> str:
    """The fact's relation, or its prompt with the subject replaced by "{}"."""
    return fact.relation or fact.prompt.replace(fact.subject, "{}", 1)


@dataclass(frozen=True)
class AutoLayerChoice:
    """What ``layer auto`` chose, and from what."""

    method: str
    traced: tuple[int | None, ...]  # per fact; None: its trace was uninformative
    sources: tuple[str, ...]  # per fact: "trace", "cache" or "uninformative"
    layer: int | None  # the layer used (the most common traced one); None: the preset's kept
    hparams_layers: tuple[int, ...]  # the method's layer field as set; (): left as it was

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "traced": list(self.traced), "sources": list(self.sources),
                "layer": self.layer, "layers": list(self.hparams_layers)}


def traced_layers(lm: LoadedModel, facts: Sequence[Fact], cache: TraceCache | None = None,
                  options: TraceOptions | None = None, progress: Progress | None = None,
                  min_effect: float = MIN_EFFECT) -> tuple[tuple[int | None, ...], tuple[str, ...]]:
    """(per fact its traced layer or None, per fact "trace", "cache" or "uninformative")."""
    progress, layers, sources = progress or silent(), [], []
    for i, fact in enumerate(facts):
        key = relation_key(fact)
        cached = cache.get(lm.info.fingerprint, key) if cache is not None else None
        if cached is not None:
            layers.append(cached)
            sources.append("cache")
            continue
        stage = progress.stage(i / len(facts), (i + 1) / len(facts))
        result = trace_fact(lm, fact, options or TraceOptions(kinds=("mlp",)), stage)
        # min_effect <= 0 accepts any trace (random test models know nothing)
        informative = result.chosen_effect >= min_effect and (result.clean_p >= MIN_CLEAN_P or min_effect <= 0)
        if informative and cache is not None:
            cache.put(lm.info.fingerprint, key, result.chosen_layer)
        layers.append(result.chosen_layer if informative else None)
        sources.append("trace" if informative else "uninformative")
    return tuple(layers), tuple(sources)


def layers_for(method: str, traced: int, n_layers: int, width: int = 1) -> tuple[int, ...]:
    """The layers a method edits for a traced layer (see the module doc)."""
    if not _policy(method).window:
        return (traced,)
    width = max(1, min(width, n_layers))
    first = min(max(0, traced - width + 1), n_layers - width)
    return tuple(range(first, first + width))


def _window_width(lm: LoadedModel, method: str, hparams: Any) -> int:
    current = getattr(hparams, _policy(method).field)
    return len(current or getattr(get_method(method).preset(lm), _policy(method).field) or (0,))


def auto_layer_hparams(lm: LoadedModel, method: str, hparams: Any, facts: Sequence[Fact],
                       cache: TraceCache | None = None, options: TraceOptions | None = None,
                       progress: Progress | None = None, min_effect: float = MIN_EFFECT
                       ) -> tuple[Any, AutoLayerChoice]:
    """``hparams`` with the method's layer field set from the facts' traces; several facts
    (a batch) share the most common traced layer (the lowest among equally common ones).
    With no informative trace ``hparams`` comes back unchanged."""
    if not facts:
        raise ValueError("layer auto needs at least one fact to trace")
    policy = _policy(method)
    traced, sources = traced_layers(lm, facts, cache, options, progress, min_effect)
    counts = Counter(layer for layer in traced if layer is not None)
    if not counts:
        log.info("layer auto for %s: no informative trace, the preset's layer is kept", method)
        return hparams, AutoLayerChoice(method.lower(), traced, sources, None, ())
    layer = min(counts, key=lambda candidate: (-counts[candidate], candidate))
    width = _window_width(lm, method, hparams) if policy.window else 1
    layers = layers_for(method, layer, lm.info.layers, width)
    value = layers if policy.as_tuple else layers[0]
    log.info("layer auto for %s: traced %s, editing %s", method, list(traced), list(layers))
    return dataclasses.replace(hparams, **{policy.field: value}), AutoLayerChoice(
        method.lower(), traced, sources, layer, layers)


def auto_requested(overrides: Mapping[str, Any]) -> bool:
    """Whether overrides ask for ``layer=auto`` or ``layers=auto``."""
    return any(str(overrides.get(name, "")).strip().lower() == AUTO for name in ("layer", "layers"))


def auto_override(method: str) -> dict[str, str]:
    """The override that asks ``method`` for ``layer: auto`` (its own layer field)."""
    policy = AUTO_METHODS.get(method.lower())
    if policy is None:
        raise ValueError(f"layer auto is offered for {', '.join(AUTO_METHODS)}, not {method}")
    return {policy.field: AUTO}


def strip_auto(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The overrides without a ``layer(s)=auto`` entry, for ``resolve_hparams``."""
    return {k: v for k, v in overrides.items()
            if not (k in ("layer", "layers") and str(v).strip().lower() == AUTO)}


def run_independent_auto(lm: LoadedModel, facts: Sequence[Fact], method: str, hparams: Any,
                         cache: TraceCache | None = None, options: TraceOptions | None = None,
                         progress: Progress | None = None) -> dict[str, Any]:
    """``run_independent`` with each fact edited at its own traced layer (or its relation's,
    with a cache). The report's hparams show the layer field as "auto"; ``auto_layer``
    lists each fact's choice."""
    from core.methods.hparams import as_dict

    progress, records, choices = progress or silent(), [], []
    for i, fact in enumerate(facts):
        progress.report(i, len(facts), f"tracing and editing {i + 1}/{len(facts)}: {fact.subject}")
        stage = progress.stage(i / len(facts), (i + 1) / len(facts))
        hp, choice = auto_layer_hparams(lm, method, hparams, [fact], cache, options, stage.stage(0.0, 0.2))
        outcome = compute_edit(lm, [fact], method, hparams=hp, progress=stage.stage(0.2, 1.0), preview_tokens=0)
        records.append(FactRecord(fact, outcome.pre, outcome.post, outcome.seconds, outcome.delta.sha256))
        choices.append({"fact_id": fact.id, **choice.to_dict()})
    shown = {**as_dict(hparams), _policy(method).field: AUTO}
    return build_report(lm, get_method(method).name, shown, "independent", records, {"auto_layer": choices})
