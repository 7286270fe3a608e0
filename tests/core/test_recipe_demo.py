"""RECIPE trained on the demo model's training data (subjects 0-b), then edited in sequence
on held-out evaluation subjects (c-f): the test split and more lifelong requests, one
repository growing edit after edit. Slow: 5.5 minutes on a loaded 2-core machine (one thread)."""

from __future__ import annotations

import json
import logging
import time

import pytest

from core.demo_build.lifelong import evaluation_requests
from core.edit.deltas import apply_delta, revert_delta
from core.facts.fact import fact_from_dict
from core.methods import preset_variant
from core.methods.hparams import with_overrides
from core.methods.recipe import RECIPE
from core.model.fingerprint import state_fingerprint
from core.util.paths import demo_model_dir
from core.workflows.train import TrainOptions, train_editor

log = logging.getLogger(__name__)

STEPS = 150
LIFELONG = 20  # lifelong requests edited after the test split's 40
# Regression floors, set below what was measured, not the targets (retention 0.95,
# generality 0.8, locality 0.95 at 1,000 edits). Measured (torch 2.13 CPU, seed 0, 150 steps,
# 276 s of training, loss 50.1 -> 21.9), after 60 sequential edits, teacher-forced: the
# preset (prompts tuned per edit) reliability 0.815, generality 0.642, locality 0.952; the
# paper's variant (MLP_P's prompts as they are) 0.208 / 0.224 / 0.959. Trained on the rebuilt file
# (locality probes from 0-b subjects only, none an evaluation file's locality prompt; review 47,
# 2026-12-07; loss 55.6 -> 17.9): preset 0.907 / 0.664 / 0.939; paper's 0.219 / 0.252 / 0.955.
FLOORS = {"reliability": 0.7, "generality": 0.5, "locality": 0.9}


def _facts(name: str):
    rows = (demo_model_dir() / name).read_text(encoding="utf-8").splitlines()
    return [fact_from_dict(json.loads(r)) for r in rows if r.strip()]


@pytest.mark.slow
def test_recipe_keeps_locality_while_its_repository_grows(demo_lm, tmp_path, one_torch_thread):
    from core.metrics.evaluation import capture_reference, evaluate

    before = state_fingerprint(demo_lm.model)
    started = time.perf_counter()
    options = TrainOptions(steps=STEPS, save_every=STEPS, val_every=STEPS, val_size=10)
    result = train_editor(demo_lm, "recipe", _facts("editor_train.jsonl"), (), options, tmp_path / "recipe.safetensors")
    trained = time.perf_counter() - started
    test = _facts("quality_test.jsonl")
    facts = test + [fact_from_dict(r) for r in evaluation_requests(demo_model_dir(), LIFELONG, 2024)]
    reference = capture_reference(demo_lm, facts)
    figures = {}
    for variant in (None, "paper"):
        hp = with_overrides(preset_variant(demo_lm, "recipe", variant), {"checkpoint": str(result.path)})
        receipts = [apply_delta(demo_lm.model, RECIPE.compute(demo_lm, [f], hp)) for f in facts]
        try:
            report = evaluate(demo_lm, facts, reference=reference, protocols=("teacher_forced",))
        finally:
            for receipt in reversed(receipts):
                revert_delta(demo_lm.model, receipt)
        figures[variant or "preset"] = {k: round(v, 3) for k, v in report.summary().items()
                                        if k in ("reliability", "generality", "locality")}
    assert state_fingerprint(demo_lm.model) == before
    log.warning("RECIPE after %d steps (%.0f s; loss %.2f -> %.2f), %d sequential edits: %s", STEPS, trained,
                result.record.losses[0], result.record.losses[-1], len(facts), figures)
    assert result.record.losses[-1] < 0.7 * result.record.losses[0]
    for name, floor in FLOORS.items():
        assert figures["preset"][name] >= floor, (name, figures)
    assert figures["paper"]["locality"] >= FLOORS["locality"], figures
