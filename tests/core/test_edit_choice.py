"""One path for a reviewer's choice of preset and layer (core.workflows.edit_choice):
``factsmith edit``, ``factsmith run`` and the app's preview all compute through it."""

from __future__ import annotations

import pytest

from core.facts.fact import Fact
from core.methods import get_method
from core.workflows.edit_choice import compute_chosen_edit, named_preset
from core.workflows.tune_store import TunedPresetError

FRANCE = Fact.create(subject="France", prompt="The capital of France is", target_new="Seattle",
                     locality=[{"prompt": "The capital of Germany is", "answer": "Berlin"}])
QUICK = {"steps": "2"}


def test_preset_names(tiny_lm):
    lm = tiny_lm("gpt2")
    assert named_preset(lm, "ft-m", None) is None and named_preset(lm, "ft-m", "default") is None
    unconstrained = named_preset(lm, "ft-m", "unconstrained")
    assert unconstrained.retain_samples == 0 and unconstrained != get_method("ft-m").preset(lm)
    with pytest.raises(ValueError, match="unconstrained"):  # names the variants offered
        named_preset(lm, "ft-m", "no-such-variant")
    with pytest.raises(TunedPresetError, match="factsmith tune"):
        named_preset(lm, "ft-m", "tuned")
    with pytest.raises(ValueError, match=r"offered: none; besides those, every method takes 'default' .* and 'tuned'"):
        named_preset(lm, "rome", "nosuch")  # trial 46: "offered: none" as if no name worked


def test_the_outcome_records_the_preset_and_the_traced_layer(tiny_lm, one_torch_thread):
    lm = tiny_lm("gpt2")
    outcome = compute_chosen_edit(lm, [FRANCE], "ft-m", {**QUICK, "layers": "auto"}, preset="unconstrained")
    assert outcome.environment["preset"] == "unconstrained"
    choice = outcome.environment["auto_layer"]
    assert outcome.hparams["retain_samples"] == 0 and outcome.hparams["steps"] == 2
    preset_layers = list(named_preset(lm, "ft-m", "unconstrained").layers)
    assert list(outcome.hparams["layers"]) == (choice["layers"] or preset_layers)
    assert choice["method"] == "ft-m" and len(choice["traced"]) == 1


def test_auto_is_refused_for_a_method_without_layers(tiny_lm):
    with pytest.raises(ValueError, match="not ice"):
        compute_chosen_edit(tiny_lm("gpt2"), [FRANCE], "ice", {"layer": "auto"})


def test_run_stores_the_named_preset(tmp_path, tiny_model_dir, one_torch_thread):
    from core.ledger import Workspace

    with Workspace.create(tmp_path / "edits.factsmith", tiny_model_dir("gpt2"), author="alice") as ws:
        (fact_id,) = ws.add_facts([FRANCE]).added
        (run,) = ws.run_edits([fact_id], "ft-m", QUICK, preset="unconstrained", model_dir=tiny_model_dir("gpt2"))
    assert run.hparams["retain_samples"] == 0 and run.hparams["steps"] == 2
