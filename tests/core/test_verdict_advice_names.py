"""Trial 33: MEND's failed edit advised "more steps or a larger learning rate (steps, lr)", "a
looser norm_constraint" and `factsmith tune`; MEND has none of them. Every method's advice
names only hyperparameters it has and controls it offers."""

import dataclasses
import re

import pytest

from core.methods import get_method, method_names
from core.methods.tune_grids import GRIDS
from core.workflows.auto_layer import AUTO_METHODS
from core.workflows.train import is_trainable
from core.workflows.verdict import FAILED, PARTIAL, SIDE_EFFECTS, FactVerdict, advice_for

SNAKE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
LISTED = re.compile(r"\(([a-z_0-9]+(?:, [a-z_0-9]+)+)\)")  # "(v_steps, v_lr)"


def _all_advice(method: str) -> tuple[str, ...]:
    facts = [FactVerdict("f", kind, ()) for kind in (FAILED, SIDE_EFFECTS, PARTIAL)]
    return advice_for(method, facts)


@pytest.mark.parametrize("method", method_names())
def test_advice_names_only_what_the_method_has(method):
    fields = {f.name for f in dataclasses.fields(get_method(method).hparams_class)}
    for template in _all_advice(method):
        text = re.sub(r"\{[a-z_]+\}", "", template)
        named = set(SNAKE.findall(text)) | {n for group in LISTED.findall(text) for n in group.split(", ")}
        assert named <= fields, f"{method}: {template!r} names {sorted(named - fields)}"
        assert "{tune}" not in template or method in GRIDS, f"{method} has no tuning grid: {template!r}"
        assert "{layer_auto}" not in template or method in AUTO_METHODS, template
        assert "{train}" not in template or is_trainable(method), template
