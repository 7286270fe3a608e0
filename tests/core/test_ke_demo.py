"""KnowledgeEditor trained briefly on the demo model's training data (subjects 0-b), measured
on held-out evaluation subjects (c-f, ``quality_test.jsonl``). Slow: about 1.5 minutes on one core."""

from __future__ import annotations

import logging
import statistics

import pytest

from core.methods.hparams import with_overrides
from core.methods.ke import KE
from core.workflows.train import TrainOptions, train_editor
from tests.core.trained_demo import demo_facts, held_out_figures

log = logging.getLogger(__name__)

STEPS = 120
# Regression floors, set below what was measured (torch CPU, seed 0, 120 steps; below),
# not the targets (reliability 0.9, generality 0.7, locality 0.9), which
# the full run of bench/trained_editors.py is for.
# Measured (small preset since issue 17's fifth KE round: Adam 2e-3 cosine-decayed over the
# 120 steps, fixed KL weight, edits at edit_scale 0.9): validation reliability 0.902, locality
# 0.948, last-20 loss 1.065; held out reliability 0.872, generality 0.874, locality 0.913; the
# test took 84 s beside other work. (At edit_scale 1.0, the second round's preset: validation
# 0.935 / loc 0.926; held out 0.885 / 0.874 / 0.873.) Trained on the rebuilt file (locality probes
# from 0-b subjects only, none an evaluation file's locality prompt; review 47, 2026-12-07):
# validation 0.922 / loc 0.852, last-20 loss 0.899; held out 0.889 / 0.890 / 0.867 (the locality
# floor 0.85 is 0.017 under it: a regression floor).
VAL_FLOORS = {"reliability": 0.8}  # validation (quality_dev, first 10) at the last step
MAX_LOSS = 1.5  # mean training loss of the last 20 steps
FLOORS = {"reliability": 0.8, "generality": 0.8, "locality": 0.85}


@pytest.mark.slow
def test_ke_trained_on_the_demo_model_edits_held_out_facts(demo_lm, tmp_path, one_torch_thread):
    options = TrainOptions(steps=STEPS, save_every=STEPS, val_every=STEPS, val_size=10)
    result = train_editor(demo_lm, "ke", demo_facts("editor_train.jsonl"), demo_facts("quality_dev.jsonl"), options,
                          tmp_path / "ke.safetensors")
    validation, losses = result.record.validation[-1], result.record.losses
    hp = with_overrides(KE.preset(demo_lm), {"checkpoint": str(result.path)})
    figures, seconds = held_out_figures(demo_lm, KE, hp, demo_facts("quality_test.jsonl"))
    log.warning("KE after %d steps: validation %s, last-20 loss %.3f, held out %s, %.3f s/edit", STEPS, validation,
                statistics.mean(losses[-20:]), figures, seconds)
    for name, floor in VAL_FLOORS.items():
        assert validation[name] >= floor, (name, validation)
    assert statistics.mean(losses[-20:]) <= MAX_LOSS, losses[-20:]
    for name, floor in FLOORS.items():
        assert figures["all"][name] >= floor, (name, figures)
