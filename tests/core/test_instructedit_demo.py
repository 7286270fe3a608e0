"""InstructEdit trained briefly on the demo model's training data (subjects 0-b) with
city → country held out, measured on held-out evaluation subjects (c-f,
``quality_test.jsonl``): all five tasks, and the unseen one on its own. Slow: about 2
minutes on one core."""

from __future__ import annotations

import logging
import statistics

import pytest

from core.methods.hparams import with_overrides
from core.methods.instructedit import INSTRUCTEDIT
from core.workflows.train import TrainOptions, train_editor
from tests.core.trained_demo import demo_facts, held_out_figures

log = logging.getLogger(__name__)

STEPS = 120
# Regression floors, set below what was measured (torch CPU, seed 0, 120 steps, small
# preset), not the targets; bench/trained_editors.py makes the full table.
# Measured (small preset since issue 17's edit-scale round: c_edit 2, Adam 5e-4, edits at 0.9
# of the trained update): validation 0.955 / 0.916 / 0.910, last-20 loss 2.192 (c_edit 2
# doubles the edit loss's share: the old preset's c_edit 1 measured 1.211); held out (40)
# reliability 0.847, generality 0.877, locality 0.936; city → country (unseen, 8) 1.0 / 1.0 /
# 0.958; 0.035 s per edit; 90 s on a shared, busy 2-core machine. (At full scale: held out
# 0.872 / 0.891 / 0.928.) The locality floor (0.9) is a regression floor 0.036 under that
# measurement.
VAL_FLOORS = {"reliability": 0.8}  # validation (quality_dev, first 10 of the training tasks) at the last step
# Since the training file's locality probes are 0-b subjects' phrasings only, none an evaluation
# file's locality prompt (review 47, 2026-12-07): last-20 loss 2.701 (2.773 on an intermediate file),
# validation 0.910 / 0.883 / 0.881, held out 0.868 / 0.898 / 0.918, city → country 0.938 / 1.0 /
# 0.958. The loss is a regression bound 0.5 above that measurement.
MAX_LOSS = 3.2  # mean training loss of the last 20 steps (c_edit · NLL + KL)
FLOORS = {"reliability": 0.75, "generality": 0.75, "locality": 0.9}  # all 40 test requests
UNSEEN_FLOORS = {"reliability": 0.8, "generality": 0.8}  # city → country, never trained on


@pytest.mark.slow
def test_instructedit_trained_on_the_demo_model_edits_held_out_facts(demo_lm, tmp_path, one_torch_thread):
    seen = [f for f in demo_facts("quality_dev.jsonl") if f.relation != "city_country"]
    options = TrainOptions(steps=STEPS, save_every=STEPS, val_every=STEPS, val_size=10)
    result = train_editor(demo_lm, "instructedit", demo_facts("editor_train.jsonl"), seen, options,
                          tmp_path / "ie.safetensors", {"held_out": "city_country"})
    validation, losses = result.record.validation[-1], result.record.losses
    hp = with_overrides(INSTRUCTEDIT.preset(demo_lm), {"checkpoint": str(result.path)})
    figures, seconds = held_out_figures(demo_lm, INSTRUCTEDIT, hp, demo_facts("quality_test.jsonl"))
    log.warning("InstructEdit after %d steps: validation %s, last-20 loss %.3f, held out %s, %.3f s/edit", STEPS,
                validation, statistics.mean(losses[-20:]), figures, seconds)
    for name, floor in VAL_FLOORS.items():
        assert validation[name] >= floor, (name, validation)
    assert statistics.mean(losses[-20:]) <= MAX_LOSS, losses[-20:]
    for name, floor in FLOORS.items():
        assert figures["all"][name] >= floor, (name, figures)
    for name, floor in UNSEEN_FLOORS.items():
        assert figures["city_country"][name] >= floor, (name, figures)
