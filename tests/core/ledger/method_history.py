"""Shared shape of the ledger tests for methods whose deltas carry more than weights (AlphaEdit's
keys, COMEBA-HK's hook layers, GRACE's codebooks, RECIPE's repository): a three-run history
of real edits, a checkout of it, patches of it and reverts in it, each checked against the
same deltas applied by hand. The method-specific checks stay in each test file."""

from __future__ import annotations

import shutil

from core.edit.deltas import apply_delta
from core.facts.fact import Fact
from core.model.fingerprint import state_fingerprint
from core.model.loading import LoadOptions, load_model
from tests.core.ledger.helpers import add_run_approve, make_facts

CPU = LoadOptions(device="cpu")
FACTS = [
    Fact.create(subject="The Space Needle", prompt="The Space Needle is in", target_new="Paris"),
    Fact.create(subject="Berlin", prompt="Berlin is a city in", target_new="Japan"),
    Fact.create(subject="The Eiffel Tower", prompt="The Eiffel Tower is located in", target_new="Rome"),
]


def three_run_history(ws, method: str, hparams: dict, facts=FACTS, weights_first: bool = True):
    """HEAD~1: hand-made weight edits (``weights_first``) and two ``method`` runs, each on that
    base; HEAD: a third run, computed on HEAD~1. The workspace and the three runs, in order."""
    if weights_first:
        add_run_approve(ws, make_facts(2))
    ws.add_facts(facts)
    first = ws.run_edits([f.id for f in facts[:2]], method, hparams, options=CPU)
    for fact in facts[:2]:
        ws.review(fact.id, "approve")
    ws.commit(f"two {method} edits" if not weights_first else f"weights and two {method} edits")
    (third,) = ws.run_edits([facts[2].id], method, hparams, options=CPU)
    ws.review(facts[2].id, "approve")
    ws.commit("a third")
    return ws, [*first, third]


def assert_head_checks_out(ws, head, folder, side_file: str | None = None) -> None:
    """``head`` (HEAD checked out into ``folder``) reloads from the folder with the same weights and
    carries ``side_file`` there (if named); a checkout in memory verifies too."""
    if side_file is not None:
        assert (folder / side_file).is_file()
    assert state_fingerprint(load_model(folder, CPU).model) == head.weights_fingerprint
    assert ws.checkout("HEAD", options=CPU).verified


def assert_patches_equal_the_checkout(ws, base_dir, tmp_path, reload: bool = True, range_patch: bool = True) -> None:
    """A patch of the whole log on a fresh copy of the base model gives HEAD's checkout (and
    reloads as it, with ``reload``); with ``range_patch``, a patch of HEAD~1..HEAD on a checkout
    of HEAD~1 (a folder that already carries the side state) does too."""
    from core.ledger import apply_patch

    head = ws.checkout("HEAD", options=CPU)
    ws.export_patch(tmp_path / "all.patch")
    copy = tmp_path / "fresh-copy"
    shutil.copytree(base_dir, copy)
    applied = apply_patch(tmp_path / "all.patch", copy, tmp_path / "patched", CPU)
    assert applied.verified and applied.weights_fingerprint == head.weights_fingerprint
    if reload:
        assert state_fingerprint(load_model(tmp_path / "patched", CPU).model) == head.weights_fingerprint
    if range_patch:
        ws.checkout("HEAD~1", tmp_path / "start", options=CPU)
        ws.export_patch(tmp_path / "last.patch", from_ref="HEAD~1")
        chained = apply_patch(tmp_path / "last.patch", tmp_path / "start", tmp_path / "end", CPU)
        assert chained.edits == 1 and chained.weights_fingerprint == head.weights_fingerprint


def revert_matches_by_hand(ws, refs: list[str], message: str, fresh_lm):
    """Revert ``refs``; asserts the result's weights are HEAD's remaining deltas applied by hand to
    ``fresh_lm`` (a fresh base model). The revert's result."""
    reverted = ws.revert(refs, message, options=CPU)
    for run in ws.show("HEAD").runs:
        apply_delta(fresh_lm.model, ws.delta(run.id))
    assert state_fingerprint(fresh_lm.model) == reverted.weights_fingerprint
    return reverted
