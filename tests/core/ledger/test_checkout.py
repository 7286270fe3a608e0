"""Checkout: base + deltas in order, fingerprinted bit for bit, in memory or as a model folder."""

import json

import pytest

from core.edit.deltas import apply_delta
from core.ledger import LedgerError, VerificationError
from core.model.fingerprint import state_fingerprint
from core.model.loading import LoadOptions, load_model
from tests.core.ledger.helpers import add_run_approve, make_facts

CPU = LoadOptions(device="cpu")


@pytest.fixture
def committed(workspace):
    runs = add_run_approve(workspace, make_facts(4))
    workspace.commit("four edits")
    return workspace, runs


def test_checkout_equals_applying_the_deltas_by_hand(committed, tiny_lm):
    ws, runs = committed
    result = ws.checkout("HEAD", options=CPU)
    by_hand = tiny_lm("gpt2")
    for run in runs:
        apply_delta(by_hand.model, ws.delta(run.id))
    assert result.weights_fingerprint == state_fingerprint(by_hand.model) == state_fingerprint(result.lm.model)
    assert (result.runs, result.dtype, result.device, result.verified) == (4, "float32", "cpu", False)


def test_a_second_checkout_is_verified_against_the_first(committed):
    ws, _ = committed
    first = ws.checkout("HEAD", options=CPU)
    second = ws.checkout("HEAD", options=CPU)
    assert second.verified and second.weights_fingerprint == first.weights_fingerprint


def test_root_checkout_is_the_base(committed, tiny_lm):
    ws, _ = committed
    assert ws.checkout("ROOT", options=CPU).weights_fingerprint == state_fingerprint(tiny_lm("gpt2").model)


def test_checkout_into_a_hugging_face_folder(committed, tmp_path):
    ws, _ = committed
    result = ws.checkout("HEAD", tmp_path / "out", options=CPU)
    files = {p.name for p in (tmp_path / "out").iterdir()}
    assert {"config.json", "model.safetensors", "factsmith.json", "tokenizer.json"} <= files
    marker = json.loads((tmp_path / "out" / "factsmith.json").read_text())
    assert marker["commit"] == ws.head().id and marker["weights_fingerprint"] == result.weights_fingerprint
    reloaded = load_model(tmp_path / "out", CPU)
    assert state_fingerprint(reloaded.model) == result.weights_fingerprint
    with pytest.raises(LedgerError, match=r"already exists and is not an empty folder"):
        ws.checkout("HEAD", tmp_path / "out", options=CPU)


def test_a_pristine_model_passed_in_is_used_in_place(committed, tiny_lm):
    ws, _ = committed
    ws.checkout("ROOT", options=CPU)  # records the base weights
    lm = tiny_lm("gpt2")
    result = ws.checkout("HEAD", lm=lm, options=CPU)
    assert result.lm is lm and state_fingerprint(lm.model) == ws.checkout("HEAD", options=CPU).weights_fingerprint
    with pytest.raises(VerificationError, match=r"has been changed since it was loaded"):
        ws.checkout("HEAD", lm=lm)  # lm now holds HEAD, not the base


def test_a_model_folder_with_other_weights_is_refused(committed, tiny_model_dir):
    ws, _ = committed
    with pytest.raises(LedgerError, match=r"fingerprint .* but this workspace's base model"):
        ws.checkout("HEAD", model_dir=tiny_model_dir("llama"), options=CPU)


def test_weights_differing_from_the_record_are_caught(committed):
    ws, _ = committed
    head = ws.head()
    ws._store.db.execute("INSERT INTO weights VALUES (?, 'float32', 'cpu', 'forged', 'mallory', 'then')",
                         (head.state_fingerprint,))
    with pytest.raises(VerificationError, match=r"recorded as forged"):
        ws.checkout("HEAD", options=CPU)
