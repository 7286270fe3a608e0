"""Which trained editor a training run keeps for editing.

A trained editor's validation swings from one validation to the next (KE on the demo
model: reliability 0.86-0.95 and locality 0.87-0.93 between steps 500 and 1,200 of one
run), so the last step is not always the editor that edits best. With ``keep="best"`` a run
keeps, beside the last editor (which a resume continues), the one whose validation best met
the verdict's targets: the largest of the smallest margins over the targets (reliability
0.95, generality 0.8, locality 0.9, ``core.workflows.verdict``), the later one on a tie.
Chosen on validation requests, never on the requests an editor is reported on.

Measured (issue 17, KE's preset, 1,200 steps, dev validation on all 40 of quality_dev every
100 steps; the checkpoint kept, then the last, measured once each on quality_test): seed 0
kept step 1,200 (= the last): 0.927 / 0.895 / 0.887; seed 1 kept step 800: 0.923 / 0.929 /
0.903 against the last's 0.923 / 0.915 / 0.885 (reliability / generality / locality).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from core.workflows.verdict import DEFAULT_RULES

KEEPS = ("best", "last")
TARGETED = ("reliability", "generality", "locality")


def validation_margin(figures: Mapping[str, Any]) -> float | None:
    """The smallest margin of a validation's figures over the verdict's targets (negative: short
    of one); None when it measured none of them."""
    margins = [float(figures[m]) - getattr(DEFAULT_RULES, m) for m in TARGETED if figures.get(m) is not None]
    return min(margins) if margins else None


class KeptEditor:
    """The best validated editor so far: its step, margin and a copy of its state."""

    def __init__(self, step: int = 0, margin: float = -math.inf, state: Mapping[str, Any] | None = None) -> None:
        self.step, self.margin, self.state = step, margin, state

    @classmethod
    def resumed(cls, checkpoint, editor) -> KeptEditor:
        """What a checkpoint kept: its stored best editor, or its last when that was the best."""
        record = checkpoint.record
        at = {int(v.get("step", 0)): validation_margin(v) for v in record.validation}
        if checkpoint.best is not None and at.get(record.best_step) is not None:
            return cls(record.best_step, at[record.best_step], checkpoint.best)
        margin = at.get(record.step)
        if record.step and margin is not None and not record.best_step:
            return cls(record.step, margin, _copy(editor.state_dict()))
        return cls()

    def offer(self, step: int, figures: Mapping[str, Any], editor) -> bool:
        """Keep the editor as it is at ``step`` if its validation meets the targets at least as well."""
        margin = validation_margin(figures)
        if margin is None or margin < self.margin:
            return False
        self.step, self.margin, self.state = step, margin, _copy(editor.state_dict())
        return True

    def stored(self, step: int) -> tuple[int, Mapping[str, Any] | None]:
        """(best_step, best state) for a checkpoint of the editor at ``step``: none when it is the kept one."""
        return (0, None) if not self.step or self.step == step else (self.step, self.state)


def _copy(state: Mapping[str, Any]) -> dict[str, Any]:
    return {name: tensor.detach().clone() for name, tensor in state.items()}
