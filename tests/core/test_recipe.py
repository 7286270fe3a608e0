"""RECIPE, its retrieval repository and its training job on tiny random models (the
sentence encoder is the real all-MiniLM-L6-v2 from its package)."""

from __future__ import annotations

import pytest
import torch

from core.edit.deltas import Delta, apply_delta, revert_delta
from core.edit.prompt_prefix import plain_positions, prefixed_inputs
from core.edit.repository import (
    FILE_NAME,
    PromptEntry,
    RepositoryError,
    RepositoryUpdate,
    added,
    entry_id,
    live_state,
    repository,
    retrieval_paused,
)
from core.facts.fact import fact_from_dict
from core.methods import get_method
from core.methods.editor_ckpt import CheckpointError, read_checkpoint
from core.methods.hparams import with_overrides
from core.methods.recipe import RECIPE, RECIPEHParams
from core.metrics.scoring import score_pairs
from core.model.fingerprint import state_fingerprint
from core.model.folder_checks import weight_shards
from core.model.generation import SamplingOptions, continuations
from core.model.loading import LoadOptions, load_model
from core.model.saving import save_model_folder
from core.model.tokens import encode, encode_pair
from core.workflows.train import TrainOptions, facts_sha256, train_editor
from tests.core.trained_editor_checks import assert_refused_for_another_model, cli_train_and_edit

TRAIN = [fact_from_dict(r) for r in (
    {"subject": "France", "prompt": "The capital of France is", "target_new": "Berlin",
     "paraphrases": ["France's capital is"],
     "locality": [{"prompt": "The Eiffel Tower is located in", "answer": "Paris"}]},
    {"subject": "Germany", "prompt": "The official language of Germany is", "target_new": "French",
     "paraphrases": ["Germany's official language is"],
     "locality": [{"prompt": "The Space Needle is in", "answer": "Seattle"}]},
    {"subject": "Japan", "prompt": "The currency of Japan is the", "target_new": "Paris",
     "paraphrases": ["Japan pays with the"],
     "locality": [{"prompt": "Berlin is a city in", "answer": "Germany"}]},
)]
# Mechanics, not quality: small maps, every request in every step, a large step.
FAST = {"width": "32", "edits_per_step": "3", "lr": "1e-2", "locality_probes": "1"}
CPU = LoadOptions(device="cpu")


@pytest.fixture(autouse=True)
def _threads(one_torch_thread):
    yield


def _train(lm, out, steps=8, resume=False, progress=None, save_every=100, val=()):
    options = TrainOptions(steps=steps, save_every=save_every, val_every=100, val_size=2, resume=resume)
    return train_editor(lm, "recipe", TRAIN, val, options, out, FAST, progress)


@pytest.fixture(scope="module")
def trained(tiny_model_dir, tmp_path_factory):
    """A checkpoint trained for the tiny GPT-2 (40 steps on TRAIN)."""
    lm = load_model(tiny_model_dir("gpt2"), CPU)
    return _train(lm, tmp_path_factory.mktemp("recipe") / "recipe.safetensors", steps=40)


def _hp(lm, path) -> RECIPEHParams:
    return with_overrides(RECIPE.preset(lm), {"checkpoint": str(path)})


def test_registry_and_presets(tiny_lm):
    lm = tiny_lm("gpt2")
    assert get_method("recipe") is RECIPE
    small = RECIPE.preset(lm)
    assert (small.prompt_tokens, small.sentinel_tokens, small.width) == (3, 10, 0)  # 0: MiniLM's 3 × 384
    assert RECIPEHParams().width == 4096 and RECIPEHParams().lr == 1e-5  # the paper's Appendix C
    with pytest.raises(AttributeError):
        small.width = 3  # type: ignore[misc]


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_training_lowers_the_loss_and_an_edit_is_a_repository_entry(tiny_lm, tmp_path, family):
    lm = tiny_lm(family)
    before, weights = state_fingerprint(lm.model), {k: v.clone() for k, v in lm.model.state_dict().items()}
    result = _train(lm, tmp_path / "recipe.safetensors", steps=12)
    losses = result.record.losses
    assert len(losses) == 12 and sum(losses[-3:]) < 0.8 * sum(losses[:3]), losses
    delta = RECIPE.compute(lm, TRAIN[:2], _hp(lm, result.path))
    assert state_fingerprint(lm.model) == before  # training and compute leave the model alone
    (update,) = delta.updates
    assert isinstance(update, RepositoryUpdate) and not delta.params
    width = lm.model.get_input_embeddings().weight.shape[1]
    assert update.prompts.shape == (2, 3, width) and update.keys.shape == (2, 3 * 384 + 1)
    assert update.labels == ("Berlin", "French") and delta.fact_ids == tuple(f.id for f in TRAIN[:2])
    receipt = apply_delta(lm.model, delta)
    assert len(live_state(lm.model)) == 2 and state_fingerprint(lm.model) != before
    assert all(torch.equal(v, weights[k]) for k, v in lm.model.state_dict().items())  # weights untouched
    revert_delta(lm.model, receipt)
    assert live_state(lm.model) is None and state_fingerprint(lm.model) == before
    assert repository(lm.model)._hooks is None  # an empty repository leaves no hook behind


def test_reverting_removes_exactly_its_entries_in_any_order(tiny_lm, trained):
    lm, other = tiny_lm("gpt2"), tiny_lm("gpt2")
    a, b, c = (RECIPE.compute(lm, [f], _hp(lm, trained.path)) for f in TRAIN)
    receipts = [apply_delta(lm.model, d) for d in (a, b, c)]
    revert_delta(lm.model, receipts[0])
    for delta in (b, c):
        apply_delta(other.model, delta)
    assert state_fingerprint(lm.model) == state_fingerprint(other.model)  # as if A had never been made
    with pytest.raises(ValueError, match="no entry"):
        revert_delta(lm.model, receipts[0])  # already gone
    revert_delta(lm.model, receipts[2])
    revert_delta(lm.model, receipts[1])
    assert state_fingerprint(lm.model) == state_fingerprint(tiny_lm("gpt2").model)


def test_a_delta_survives_bytes_and_refuses_another_retriever(tiny_lm, trained, tmp_path):
    lm = tiny_lm("gpt2")
    delta = RECIPE.compute(lm, TRAIN[:2], _hp(lm, trained.path))
    back = Delta.from_bytes(delta.to_bytes())
    assert back.sha256 == delta.sha256 and back.repository_updates[0].labels == ("Berlin", "French")
    assert torch.equal(back.repository_updates[0].prompts, delta.repository_updates[0].prompts)
    apply_delta(lm.model, back)
    other = _train(lm, tmp_path / "other.safetensors", steps=2)  # another sentinel
    foreign = RECIPE.compute(lm, TRAIN[2:], _hp(lm, other.path))
    with pytest.raises(ValueError, match="another trained RECIPE retriever"):
        apply_delta(lm.model, foreign)
    assert len(live_state(lm.model)) == 2


def _constant_entry(lm, key_bias: float, sentinel_bias: float, scale: float = 3.0):
    """A hand-made entry whose score is ``key_bias`` for every query against a sentinel at ``sentinel_bias``."""
    encoder = repository(lm.model).encoder()
    width = lm.model.get_input_embeddings().weight.shape[1]
    key = torch.zeros(encoder.feature_width + 1)
    key[-1] = key_bias
    sentinel = torch.zeros(encoder.feature_width + 1)
    sentinel[-1] = sentinel_bias
    prompt = torch.randn(3, width, generator=torch.Generator().manual_seed(0)) * scale
    return added(None, encoder.identity, sentinel, [PromptEntry(entry_id(key, prompt, "x"), key, prompt, "x")])


def test_the_prefix_is_what_training_computes_and_generation_caches_it(tiny_lm):
    lm = tiny_lm("gpt2")
    texts = ["The Space Needle is in", "Berlin is a city in the"]
    rows = [encode(lm.tokenizer, t) for t in texts]
    state = _constant_entry(lm, 1.0, 0.0)  # every query retrieves it
    ids, mask = torch.tensor([rows[0]]), torch.ones(1, len(rows[0]), dtype=torch.long)
    embeds, full, pos = prefixed_inputs(lm.model.get_input_embeddings(), ids, mask, state.entries[0].prompt[None],
                                        torch.tensor([True]), plain_positions(1, ids.shape[1], 0, "cpu"))
    with torch.no_grad():
        base = lm.model(input_ids=ids).logits
        by_hand = lm.model(inputs_embeds=embeds, attention_mask=full, position_ids=pos).logits[:, 3:]
        repository(lm.model).set(state)
        hooked = lm.model(input_ids=ids, attention_mask=mask).logits
    assert hooked.shape == base.shape and torch.equal(hooked, by_hand) and not torch.allclose(hooked, base)
    greedy = continuations(lm, texts, SamplingOptions(max_new_tokens=5))  # left-padded batch, KV cache
    for text, row, got in zip(texts, rows, greedy, strict=True):
        seq = list(row)
        for _ in range(5):  # no cache: the whole prefixed sequence every step
            with torch.no_grad():
                seq.append(int(lm.model(input_ids=torch.tensor([seq])).logits[0, -1].argmax()))
        assert got == lm.tokenizer.decode(seq[len(row):], skip_special_tokens=True), text
    with retrieval_paused(lm.model), torch.no_grad():
        assert torch.equal(lm.model(input_ids=ids).logits, base)


def test_the_sentinel_leaves_unrelated_rows_alone(tiny_lm):
    lm = tiny_lm("gpt2")
    ids = torch.tensor([encode(lm.tokenizer, "Berlin is a city in")])
    with torch.no_grad():
        base = lm.model(input_ids=ids).logits
        repository(lm.model).set(_constant_entry(lm, 0.0, 1.0))  # the sentinel always wins
        assert torch.equal(lm.model(input_ids=ids).logits, base)  # bit-identical: the call runs untouched


def test_the_sentinel_rejects_unrelated_queries_after_training(tiny_lm, trained):
    """After 40 steps on three requests the retriever finds each edit from its prompt and
    paraphrase and answers "nothing relevant" for the locality prompts it was trained on (three
    requests teach nothing about text never seen: the demo model's slow test measures that)."""
    lm = tiny_lm("gpt2")
    apply_delta(lm.model, RECIPE.compute(lm, TRAIN, _hp(lm, trained.path)))
    related = [q for f in TRAIN for q in (f.prompt, *f.paraphrases)]
    index, hit = repository(lm.model).retrieve(related)
    assert hit.all() and index.tolist() == [0, 0, 1, 1, 2, 2]
    unrelated = ["The Space Needle is in", "Berlin is a city in", "The Eiffel Tower is located in"]
    assert not repository(lm.model).retrieve(unrelated)[1].any()


def test_scoring_retrieves_with_the_question_not_the_answer(tiny_lm):
    """An entry that matches only 'prompt + answer' text: teacher-forced scoring must not see it."""
    lm = tiny_lm("gpt2")
    prompt, answer = "The Space Needle is in", "Paris"
    encoder = repository(lm.model).encoder()
    full, question = encoder.features([f"{prompt} {answer}", prompt])
    key, sentinel = torch.cat([full, torch.zeros(1)]), torch.zeros(encoder.feature_width + 1)
    sentinel[-1] = float((full @ full + full @ question) / 2)  # between the two scores
    width = lm.model.get_input_embeddings().weight.shape[1]
    prompt_tensor = torch.randn(3, width, generator=torch.Generator().manual_seed(0)) * 3
    state = added(None, encoder.identity, sentinel, [PromptEntry(entry_id(key, prompt_tensor, answer), key,
                                                                 prompt_tensor, answer)])
    (before,) = score_pairs(lm, [(prompt, answer)])
    repository(lm.model).set(state)
    (scored,) = score_pairs(lm, [(prompt, answer)])
    assert scored.logprobs == pytest.approx(before.logprobs, abs=1e-5)  # the question retrieves nothing
    pair = encode_pair(lm.tokenizer, prompt, answer)
    with torch.no_grad():
        raw = lm.model(input_ids=torch.tensor([pair.ids])).logits  # the whole text retrieves the entry
        repository(lm.model).set(None)
        plain = lm.model(input_ids=torch.tensor([pair.ids])).logits
    assert not torch.allclose(raw, plain)


def test_a_saved_folder_reloads_its_repository(tiny_lm, trained, tmp_path):
    lm = tiny_lm("gpt2")
    apply_delta(lm.model, RECIPE.compute(lm, TRAIN, _hp(lm, trained.path)))
    out = save_model_folder(lm, tmp_path / "saved")
    assert (out / FILE_NAME).is_file() and FILE_NAME not in [p.name for p in weight_shards(out)]
    again = load_model(out, CPU)
    assert state_fingerprint(again.model) == state_fingerprint(lm.model)
    (out / FILE_NAME).write_bytes(b"garbage")
    with pytest.raises(Exception, match="not a readable repository file"):
        load_model(out, CPU)


def test_checkpoint_record_and_refusal_for_another_model(tiny_lm, trained):
    gpt2, llama = tiny_lm("gpt2"), tiny_lm("llama")
    record = read_checkpoint(trained.path, "recipe", gpt2.info.fingerprint).record
    assert record.fingerprint == gpt2.info.fingerprint and record.step == 40
    assert record.data_sha256 == facts_sha256(TRAIN) and record.hparams["width"] == 32
    assert {"torch", "transformers", "safetensors"} <= set(record.versions)
    assert not any(k.startswith("encoder") for k in read_checkpoint(trained.path, "recipe").editor)
    assert_refused_for_another_model(RECIPE, gpt2, llama, trained.path, TRAIN[:1])
    with pytest.raises(CheckpointError, match="factsmith train --method recipe"):
        RECIPE.compute(gpt2, TRAIN[:1], _hp(gpt2, trained.path.with_name("missing.safetensors")))


def test_resume_continues_as_if_never_stopped(tiny_lm, tmp_path):
    lm = tiny_lm("gpt2")
    whole = _train(lm, tmp_path / "whole.safetensors", steps=4)
    _train(lm, tmp_path / "split.safetensors", steps=2)
    second = _train(lm, tmp_path / "split.safetensors", steps=4, resume=True)
    assert second.resumed_from == 2 and second.record.losses == pytest.approx(whole.record.losses, rel=1e-4)


def test_an_entry_of_another_width_is_refused(tiny_lm):
    lm = tiny_lm("gpt2")
    state = _constant_entry(lm, 1.0, 0.0)
    entry = state.entries[0]
    wide = torch.zeros(3, 64)
    with pytest.raises(RepositoryError, match="width 64"):
        added(None, state.encoder, state.sentinel, [PromptEntry(entry_id(entry.key, wide, "x"), entry.key, wide, "x")],
              width=32)


def test_cli_trains_and_edits(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "recipe.safetensors"
    trained = cli_train_and_edit(capsys, "recipe", tiny_model_dir("gpt2"), TRAIN, FAST, out, tmp_path)
    assert trained["method"] == "recipe" and trained["steps"] == 2 and trained["hparams"]["width"] == 32


def test_other_methods_compute_their_edits_without_the_prefix(tiny_lm):
    """A GRACE edit computed beside a repository that retrieves for every prompt is the edit
    computed without it (the prefix would shift the positions GRACE captures at)."""
    from core.workflows.editing import compute_edit

    fast = {"layer": "1", "steps": "3", "lr": "0.5", "loss_threshold": "0"}
    fact = TRAIN[0]
    plain = compute_edit(tiny_lm("gpt2"), [fact], "grace", fast, preview_tokens=0).delta
    lm = tiny_lm("gpt2")
    repository(lm.model).set(_constant_entry(lm, 1.0, 0.0))
    beside = compute_edit(lm, [fact], "grace", fast, preview_tokens=0).delta
    assert beside.sha256 == plain.sha256
