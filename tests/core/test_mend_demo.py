"""MEND trained on the demo model's training data (subjects 0-b), measured on held-out
evaluation subjects (c-f, ``quality_test.jsonl``). Slow: about 4 minutes on one core."""

from __future__ import annotations

import json
import logging
import time

import pytest

from core.facts.fact import fact_from_dict
from core.methods.hparams import with_overrides
from core.methods.mend import MEND
from core.model.fingerprint import state_fingerprint
from core.util.paths import demo_model_dir
from core.workflows.train import TrainOptions, train_editor

log = logging.getLogger(__name__)

STEPS = 200
# Regression floors, set below what was measured, not the targets (reliability 0.9,
# generality 0.7, locality 0.9). Measured (torch 2.13 CPU, seed 0, 200 steps): reliability
# 0.872, generality 0.906, locality 0.910, 0.042 s per edit; 277 s on a loaded 2-core machine.
# Trained on the rebuilt file (locality probes from 0-b subjects only, none an evaluation file's
# locality prompt; review 47, 2026-12-07): 0.892 / 0.875 / 0.927, 0.009 s per edit.
FLOORS = {"reliability": 0.7, "generality": 0.7, "locality": 0.85}


def _facts(name: str):
    rows = (demo_model_dir() / name).read_text(encoding="utf-8").splitlines()
    return [fact_from_dict(json.loads(r)) for r in rows if r.strip()]


@pytest.mark.slow
def test_mend_trained_on_the_demo_model_edits_held_out_facts(demo_lm, tmp_path, one_torch_thread):
    from core.metrics.evaluation import capture_reference, evaluate
    from core.metrics.results import aggregate

    before = state_fingerprint(demo_lm.model)
    options = TrainOptions(steps=STEPS, save_every=STEPS, val_every=STEPS, val_size=10)
    result = train_editor(demo_lm, "mend", _facts("editor_train.jsonl"), _facts("quality_dev.jsonl"), options,
                          tmp_path / "mend.safetensors")
    hp = with_overrides(MEND.preset(demo_lm), {"checkpoint": str(result.path)})
    test = _facts("quality_test.jsonl")
    reference = capture_reference(demo_lm, test)
    reports, seconds = [], 0.0
    for fact in test:
        started = time.perf_counter()
        delta = MEND.compute(demo_lm, [fact], hp)
        seconds += time.perf_counter() - started
        reports.append(evaluate(demo_lm, [fact], edit=delta, reference=reference, protocols=("teacher_forced",)))
    assert state_fingerprint(demo_lm.model) == before
    figures = {k: round(v, 3) for k, v in aggregate(reports).items()}
    log.warning("MEND after %d steps on %d held-out edits: %s, %.3f s/edit, validation %s", STEPS, len(test),
                figures, seconds / len(test), result.record.validation)
    for name, floor in FLOORS.items():
        assert figures[name] >= floor, (name, figures)
