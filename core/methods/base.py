"""The one interface every editing method implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from core.edit.deltas import Delta
from core.facts.fact import Fact
from core.model.loading import LoadedModel
from core.util.progress import Progress

if TYPE_CHECKING:
    from core.methods.stats import StatsSpec


class EditError(RuntimeError):
    """An edit could not be computed; the model is unchanged."""


def check_optimiser(method: str, steps: tuple[str, int], *positive: tuple[str, float]) -> None:
    """Name each bad setting and its value ("rome: v_steps is -5; it must be at least 1"): the
    message named every field it checks, one of them hidden in the app's short list (trial 36)."""
    name, value = steps
    problems = [f"{name} is {value}; it must be at least 1"] if value < 1 else []
    problems += [f"{field} is {number}; it must be positive" for field, number in positive if number <= 0]
    if problems:
        raise EditError(f"{method}: " + "; ".join(problems))


def checked_layers(lm, layers) -> tuple[int, ...]:
    """``layers`` sorted and unique, or an EditError naming those the model does not have."""
    found = tuple(sorted(set(layers)))
    bad = [layer for layer in found if not 0 <= layer < lm.info.layers]
    if bad:
        raise EditError(f"layers {bad} are out of range: the model has layers 0..{lm.info.layers - 1}")
    return found


class EditMethod(Protocol):
    """compute() returns a Delta and leaves the model exactly as it found it."""

    name: str
    hparams_class: type

    def preset(self, lm: LoadedModel):
        """Default hyperparameters for this model's architecture and size."""

    def statistics(self, lm: LoadedModel, hparams) -> tuple[StatsSpec, ...]:
        """The covariance statistics an edit with these hyperparameters reads (often none)."""

    def compute(self, lm: LoadedModel, facts: Sequence[Fact], hparams, progress: Progress) -> Delta:
        """The edit of all facts at once, as a delta against the model's current weights."""
