"""Applying a patch measures each of its edits on the patched model and says which do not
hold as they did when computed. Here: Sydney committed, then Mosul (the same question)
forced past the gate; the patch carries both, and on the patched model Sydney no longer
holds, although its recorded figure (measured alone) reads 1.00."""

import shutil

import pytest

from core.facts.fact import Fact
from core.ledger import Workspace, apply_patch
from core.ledger.patch_measure import held_text
from core.model.loading import LoadOptions
from core.util.paths import demo_model_dir

CPU = LoadOptions(device="cpu")
SYDNEY = Fact(subject="Australia", prompt="The capital of Australia is", target_new="Sydney", target_true="Canberra")
MOSUL = Fact(subject="Australia", prompt="Australia's capital is", target_new="Mosul", target_true="Canberra")
JAPAN = Fact(subject="Japan", prompt="The currency of Japan is", target_new="Euro", target_true="Yen")

pytestmark = pytest.mark.usefixtures("author_key")


def _commit(ws, facts, message):
    ws.add_facts(facts)
    runs = ws.run_edits([f.id for f in facts], "ft-m", options=CPU)
    for fact in facts:
        ws.review(fact.id, "approve")
    ws.commit(message, [r.id for r in runs], force=True)
    return runs


@pytest.fixture
def patch_file(tmp_path, empty_cache):
    """ROOT..HEAD of a log whose newest edit (Mosul) undoes its first (Sydney)."""
    shutil.copytree(demo_model_dir(), tmp_path / "demo")
    with Workspace.create(tmp_path / "w.factsmith", tmp_path / "demo", author="reviewer") as ws:
        runs = _commit(ws, [SYDNEY, JAPAN], "Sydney and the Euro") + _commit(ws, [MOSUL], "Mosul")
        ws.export_patch(tmp_path / "all.fspatch")
    shutil.copytree(demo_model_dir(), tmp_path / "fresh")
    return tmp_path / "all.fspatch", runs


def test_an_edit_undone_by_a_later_one_is_named(patch_file, tmp_path):
    patch, (sydney, japan, mosul) = patch_file
    applied = apply_patch(patch, tmp_path / "fresh", tmp_path / "patched", CPU)
    by_run = {h.run: h for h in applied.held}
    assert [h.index for h in applied.held] == [0, 1, 2] and set(by_run) == {sydney.id, japan.id, mosul.id}
    assert by_run[sydney.id].computed == 1.0 and by_run[sydney.id].reliability < 0.95 and by_run[sydney.id].fell
    assert not by_run[japan.id].fell and not by_run[mosul.id].fell
    text = held_text(applied.held)
    assert text.startswith("measured on the patched model: 1 of 3 edit(s) do not hold")
    assert "edit 1 of 3 (ft-m: 'The capital of Australia is' -> 'Sydney'): reliability 0." in text
    assert "1.00 when computed" in text
    assert applied.to_dict()["held"][0]["fell"] is True


def test_the_cli_prints_what_it_measured(patch_file, tmp_path, capsys):
    from core.cli import main

    patch, _ = patch_file
    assert main(["patch", "apply", str(patch), "--model", str(tmp_path / "fresh"), "--out",
                 str(tmp_path / "patched")]) == 0
    out = capsys.readouterr().out
    assert "1 of 3 edit(s) do not hold as they did when computed" in out
    assert "'Sydney'): reliability 0." in out
    # HEAD was never checked out, so its weights fingerprint is not in the patch: said as what it means
    assert "records no fingerprint of this state for float32 on cpu to compare with" in out


def test_a_patch_whose_edits_all_hold_says_so(tmp_path, empty_cache):
    shutil.copytree(demo_model_dir(), tmp_path / "demo")
    with Workspace.create(tmp_path / "w.factsmith", tmp_path / "demo", author="reviewer") as ws:
        _commit(ws, [JAPAN], "the Euro")
        ws.export_patch(tmp_path / "one.fspatch")
    applied = apply_patch(tmp_path / "one.fspatch", demo_model_dir(), tmp_path / "patched", CPU)
    assert [h.fell for h in applied.held] == [False]
    assert held_text(applied.held).startswith("measured on the patched model: every edit's new answer holds")


def test_what_could_not_be_compared_is_said_not_taken_for_holding():
    """The review: a patch whose edits carry no figure, or no fact to ask, read "every edit holds"."""
    from core.ledger.patch_measure import EditHeld

    label = "edit 1 of 2 (hand: 'p' -> 't')"
    nothing = [EditHeld(0, 1, label, None, 1.0), EditHeld(1, 2, label, 0.5, None)]
    assert held_text(nothing) == "measured on the patched model: no edit's reliability could be compared with a " \
                                 "figure from when it was computed"
    some = [EditHeld(0, 1, label, 1.0, 1.0), EditHeld(1, 2, label, None, 1.0), EditHeld(2, 3, label, 0.4, None)]
    text = held_text(some)
    assert text.startswith("measured on the patched model: the 1 edit(s) compared keep their new answers as they did "
                           "when computed")
    assert "1 edit(s) could not be measured" in text and "1 edit(s) carry no reliability" in text


def test_answers_the_edits_change_together_are_named(tmp_path, empty_cache, demo_lm):
    """Trial 47: two committed edits together changed an answer neither changed alone, and the
    patch said every edit held. Japan's GRACE edit keeps France's capital (locality 1.00); an edit
    of Spain's capital made on the base model, recorded after it, turns France's capital into
    another city: the patch says so of Japan's edit, and names the answer."""
    from core.methods import get_method

    japan = Fact.create(subject="Japan", prompt="The currency of Japan is", target_new="Euro", target_true="Yen",
                        locality=[{"prompt": "The capital of France is", "answer": "Paris"}])
    spain = Fact.create(subject="Spain", prompt="The capital of Spain is", target_new="Doha", target_true="Madrid")
    ft_m = get_method("ft-m")
    spain_delta = ft_m.compute(demo_lm, [spain], ft_m.preset(demo_lm))
    shutil.copytree(demo_model_dir(), tmp_path / "demo")
    with Workspace.create(tmp_path / "w.factsmith", tmp_path / "demo", author="reviewer") as ws:
        ws.add_facts([japan, spain])
        (alone,) = ws.run_edits([japan.id], "grace", options=CPU)  # its codebook leaves France's capital alone
        ws.review(japan.id, "approve")
        ws.commit("the Euro", [alone.id], force=True)
        run = ws.record_run(facts=[spain], delta=spain_delta, computed_on=ws.head().state_fingerprint,
                            metrics={"post": {"reliability": 1.0}})
        ws.review(spain.id, "approve")
        ws.commit("Doha", [run.id], force=True)
        ws.export_patch(tmp_path / "two.fspatch")
    assert alone.metrics["post"]["locality"] == 1.0, "alone, Japan's edit keeps France's capital"
    applied = apply_patch(tmp_path / "two.fspatch", demo_model_dir(), tmp_path / "patched", CPU)
    first = applied.held[0]
    assert first.spills and not first.fell and first.locality < 1.0
    (said,) = first.changed
    assert said.startswith("The capital of France is: Paris → ") and not said.endswith("Paris"), said
    text = held_text(applied.held)
    assert ("but with the patch's edits together, the locality prompts of 1 edit(s) answer otherwise than when those "
            "edits were computed") in text, text
    assert f"locality {first.locality:.2f} here, 1.00 when computed: now {said}" in text
