"""Tuned presets on disk: one JSON file per model fingerprint and method, in the user's
data folder (``core.util.paths.data_dir``, FACTSMITH_DATA_DIR overrides), written atomically.

A file records the method, the winner's full hyperparameters and the grid values it
changed, how many facts it was tuned and checked on, its figures beside the default
preset's, and when. ``tuned_preset(lm, method)`` gives the hyperparameters back for the
same model (same weights fingerprint) or None; a file that cannot be read, or one that
names another model or method, raises ``TunedPresetError`` saying which file and what to do.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.facts.fact import Fact
from core.methods import get_method
from core.methods.hparams import HParamError, with_overrides
from core.model.loading import LoadedModel
from core.util.atomic import replacing
from core.util.paths import data_dir
from core.util.progress import Progress
from core.workflows.tune import HeldOut, Scores, TuneResult, tune

log = logging.getLogger(__name__)

FORMAT = "factsmith-tuned-preset-v1"


class TunedPresetError(ValueError):
    """A stored tuned preset is missing where one is required, unreadable, or not this model's."""


@dataclass(frozen=True)
class TunedPreset:
    method: str
    model: str
    fingerprint: str
    hparams: Mapping[str, Any]  # every field, as the winner ran
    changed: Mapping[str, Any]  # the grid's fields and the winner's values
    tuning: Scores
    held_out: HeldOut
    created: str  # ISO 8601, UTC
    path: Path

    @property
    def date(self) -> str:
        return self.created[:10]

    def summary(self) -> str:
        """One line for menus: when, and the held-out figures beside the default preset's."""
        tuned, preset = self.held_out.tuned, self.held_out.preset
        return (f"{self.date}, {self.tuning.facts}+{tuned.facts} facts; held out: "
                f"{scores_text(tuned)} (default {scores_text(preset)})")

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "method": self.method, "model": self.model, "fingerprint": self.fingerprint,
                "hparams": dict(self.hparams), "changed": dict(self.changed),
                "facts": {"tuning": self.tuning.facts, "held_out": self.held_out.tuned.facts},
                "figures": {"tuning": self.tuning.to_dict(), "held_out": self.held_out.to_dict()},
                "created": self.created}


def scores_text(scores: Scores) -> str:
    """"rel 1.00 gen 0.25 loc 0.88": the figures a tuning reports, as menus and boxes show them."""
    parts = [("rel", scores.reliability), ("gen", scores.generality), ("loc", scores.locality)]
    return " ".join(f"{name} {value:.2f}" for name, value in parts if value is not None)


def preset_path(fingerprint: str, method: str) -> Path:
    return data_dir() / "tuned-presets" / f"{fingerprint}-{method}.json"


def save_tuned_preset(lm: LoadedModel, result: TuneResult) -> TunedPreset:
    """Store ``result``'s winner for this model (replacing an earlier one, atomically)."""
    if result.fingerprint != lm.info.fingerprint:
        raise TunedPresetError(f"the tuning result is for model {result.model} ({result.fingerprint[:12]}), "
                               f"not the loaded {lm.info.name} ({lm.info.fingerprint[:12]})")
    jsonable = result.to_dict()
    preset = TunedPreset(result.method, lm.info.name, lm.info.fingerprint, jsonable["hparams"],
                         jsonable["winner"]["values"], result.best.scores, result.held_out,
                         datetime.now(UTC).isoformat(timespec="seconds"),
                         preset_path(lm.info.fingerprint, result.method))
    with replacing(preset.path) as tmp:
        tmp.write_text(json.dumps(preset.to_dict(), indent=1, ensure_ascii=False), encoding="utf-8")
    log.info("saved the tuned %s preset for %s to %s", result.method, lm.info.name, preset.path)
    return preset


def _scores(data: Any) -> Scores:
    return Scores(float(data["reliability"]), None if data["generality"] is None else float(data["generality"]),
                  None if data["locality"] is None else float(data["locality"]), int(data["facts"]))


def _parse(path: Path, data: Any, lm: LoadedModel, method: str) -> TunedPreset:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"not a tuned preset (expected format {FORMAT!r})")
    if data.get("fingerprint") != lm.info.fingerprint or data.get("method") != method:
        raise ValueError(f"it is for method {data.get('method')!r} on a model with fingerprint "
                         f"{str(data.get('fingerprint'))[:12]}, not {method} on {lm.info.name} "
                         f"({lm.info.fingerprint[:12]})")
    if not isinstance(data.get("hparams"), dict) or not isinstance(data.get("changed"), dict):
        raise ValueError("its hparams or changed values are not JSON objects")
    figures = data["figures"]
    held = HeldOut(_scores(figures["held_out"]["preset"]), _scores(figures["held_out"]["tuned"]))
    return TunedPreset(method, str(data["model"]), data["fingerprint"], data["hparams"], data["changed"],
                       _scores(figures["tuning"]), held, str(data["created"]), path)


def load_tuned_preset(lm: LoadedModel, method: str) -> TunedPreset | None:
    """The stored tuned preset of ``method`` for this model, or None if there is none."""
    method = get_method(method).name
    path = preset_path(lm.info.fingerprint, method)
    if not path.is_file():
        return None
    try:
        preset = _parse(path, json.loads(path.read_text(encoding="utf-8")), lm, method)
        _hparams(lm, preset)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        detail = f"{type(exc).__name__}: {exc}" if isinstance(exc, KeyError | TypeError | AttributeError) else exc
        raise TunedPresetError(f"the tuned {method} preset {path} cannot be used ({detail}); delete the file "
                               f"or run `factsmith tune --method {method}` again to replace it") from None
    return preset


def _hparams(lm: LoadedModel, preset: TunedPreset):
    try:
        return with_overrides(get_method(preset.method).preset(lm), dict(preset.hparams))
    except HParamError as exc:
        raise ValueError(f"a stored hyperparameter is wrong: {exc}") from None


def tuned_preset(lm: LoadedModel, method: str):
    """The tuned hyperparameters of ``method`` for this model, or None (TunedPresetError if unreadable)."""
    preset = load_tuned_preset(lm, method)
    return None if preset is None else _hparams(lm, preset)


def require_tuned_preset(lm: LoadedModel, method: str):
    """As ``tuned_preset``, but a missing one is an error that says how to make it."""
    hparams = tuned_preset(lm, method)
    if hparams is None:
        name = get_method(method).name
        raise TunedPresetError(f"there is no tuned {name} preset for {lm.info.name} (fingerprint "
                               f"{lm.info.fingerprint[:12]}); make one with `factsmith tune --model "
                               f"{lm.info.path} --method {name} --facts FILE`, or use the default preset")
    return hparams


def tune_and_save(lm: LoadedModel, method: str, facts: Sequence[Fact], progress: Progress | None = None,
                  always: bool = False, **tune_options: Any) -> tuple[TuneResult, TunedPreset | None]:
    """``tune`` then ``save_tuned_preset`` when the tuned preset beats the default on the
    held-out facts (``TuneResult.improves``), or ``always``; None when nothing was saved. A
    cancelled or failed search saves nothing."""
    result = tune(lm, method, facts, progress, **tune_options)
    return result, (save_tuned_preset(lm, result) if always or result.improves else None)
