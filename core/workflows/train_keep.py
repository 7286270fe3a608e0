"""Which trained editor a training run keeps for editing.

A trained editor's validation swings from one validation to the next (KE on the demo
model: reliability 0.86-0.95 and locality 0.87-0.93 between steps 500 and 1,200 of one
run), so the last step is not always the editor that edits best. With ``keep="best"`` a run
keeps, beside the last editor (which a resume continues), the one whose validation best met
the verdict's targets: the largest of the smallest margins over the targets (reliability
0.95, generality 0.8, locality 0.9, ``core.workflows.verdict``), the later one on a tie.
Chosen on validation requests, never on the requests an editor is reported on.

Measured on the demo model (issue 17; presets, dev validation on all 40 of quality_dev every
100 steps; the kept checkpoint measured once on quality_test, beside the last step's;
reliability / generality / locality):

| editor (steps)       | kept step | kept, test            | last step, test       |
|----------------------|-----------|-----------------------|-----------------------|
| KE (1,200), seed 0   | 1,200     | 0.927 / 0.895 / 0.887 | the same              |
| KE (1,200), seed 1   | 800       | 0.923 / 0.929 / 0.903 | 0.923 / 0.915 / 0.885 |
| MEND (600)           | 600       | 0.905 / 0.910 / 0.939 | the same              |
| InstructEdit (600)   | 100       | 0.889 / 0.892 / 0.913 | 0.928 / 0.892 / 0.913 |

(Kept: MEND and InstructEdit from ``bench/trained_editors.py --methods mend,instructedit --steps 600``
while "best" was the default, ``bench/results/trained_editors-20261207T100056Z-0438d107.json``, a run
from a working tree with uncommitted changes; their last-step figures from the earlier 600-step run,
``trained_editors-20261206T002708Z-e8a81f19.json``, whose validations match step for step: training is
deterministic. KE: the same settings by a script that kept a copy of the checkpoint at every
validation; its figures were not saved as a results file.)

On 40 validation requests the margins of checkpoints past the first few hundred steps differ
by about one request (InstructEdit: -0.013 at step 100, -0.016 at 300 and 500, -0.022 at 600),
so the choice among them is mostly noise, and once it kept an undertrained editor. So the
last step is the default (``TrainOptions.keep``, ``factsmith train --keep``); keeping the best
is for validation sets large enough that a margin's difference means something.
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
