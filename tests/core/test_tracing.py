"""Causal tracing (core.metrics.tracing): shapes, exact restoration, the model left as it was."""

from __future__ import annotations

import pytest

from core.facts.fact import Fact
from core.metrics.trace_plan import window_layers
from core.metrics.tracing import TraceOptions, default_window, trace_fact, trace_facts
from core.util.progress import Cancelled, Progress
from tests.conftest import FAMILIES

MID_SUBJECT = Fact.create(subject="France", prompt="The capital of France is", target_new="Seattle")
FIRST_SUBJECT = Fact.create(subject="The Space Needle", prompt="The Space Needle is in", target_new="Paris")
FAST = TraceOptions(samples=3)


def _hooks(model) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def _logits(lm, text="The Eiffel Tower is located in"):
    import torch

    ids = torch.tensor([lm.tokenizer(text)["input_ids"]])
    with torch.no_grad():
        return lm.model(input_ids=ids).logits


@pytest.mark.parametrize("family", FAMILIES)
def test_trace_shapes_and_model_left_unchanged(tiny_lm, family, one_torch_thread):
    import torch

    lm = tiny_lm(family)
    before, hooks = _logits(lm), _hooks(lm.model)
    result = trace_fact(lm, MID_SUBJECT, FAST)
    assert _hooks(lm.model) == hooks
    assert torch.equal(_logits(lm), before)
    assert set(result.scores) == {"state", "mlp"}
    for matrix in result.scores.values():
        assert len(matrix) == lm.info.layers == result.n_layers
        assert all(len(row) == len(result.tokens) for row in matrix)
    start, end = result.subject_range
    assert "".join(result.tokens[start:end]).strip() == "France"
    assert 0 <= result.chosen_layer < lm.info.layers
    assert result.window == default_window(lm.info.layers) == 1


@pytest.mark.parametrize("family", FAMILIES)
def test_restoring_the_last_layer_at_the_last_token_gives_back_the_clean_probability(tiny_lm, family,
                                                                                     one_torch_thread):
    lm = tiny_lm(family)
    result = trace_fact(lm, FIRST_SUBJECT, FAST)
    assert result.scores["state"][-1][-1] == pytest.approx(result.clean_p, abs=1e-5)
    assert result.subject_range[1] - result.subject_range[0] >= 2  # a multi-token subject
    # before the subject nothing is corrupted yet, so restoring there changes nothing
    first = result.subject_range[0]
    assert all(row[t] == pytest.approx(result.corrupted_p, abs=1e-6) for row in result.scores["state"]
               for t in range(first))


def test_no_noise_means_no_effect(tiny_lm, one_torch_thread):
    lm = tiny_lm("gpt2")
    result = trace_fact(lm, MID_SUBJECT, TraceOptions(samples=2, noise_factor=0.0))
    assert result.corrupted_p == pytest.approx(result.clean_p, abs=1e-6)
    for kind in ("state", "mlp"):
        assert max(abs(v) for row in result.effect(kind) for v in row) < 1e-5


def test_the_greedy_answer_is_traced_unless_target_true_is_given(tiny_lm, one_torch_thread, monkeypatch):
    from core.methods.keys import target_ids
    from core.metrics import tracing

    monkeypatch.setattr(tracing, "MIN_CLEAN_P", 0.0)  # a random model gives "Paris" almost no probability

    lm = tiny_lm("llama")
    greedy = trace_fact(lm, MID_SUBJECT, TraceOptions(samples=1, kinds=("state",)))
    assert greedy.answer_id == int(_logits(lm, MID_SUBJECT.prompt)[0, -1].argmax())
    told = Fact.create(subject="France", prompt="The capital of France is", target_new="Seattle",
                       target_true="Paris")
    result = trace_fact(lm, told, TraceOptions(samples=1, kinds=("state",)))
    assert result.answer_id == target_ids(lm.tokenizer, told.prompt, "Paris")[0]
    assert set(result.scores) == {"state"} and result.chosen_kind == "state"


def test_batching_and_seed(tiny_lm, one_torch_thread):
    lm = tiny_lm("gpt_neox")
    # a window of 3: cells restore several MLPs at once, and a batch holds cells of mixed windows
    one_per_batch = trace_fact(lm, MID_SUBJECT, TraceOptions(samples=3, batch_rows=3, window=3))
    all_at_once = trace_fact(lm, MID_SUBJECT, TraceOptions(samples=3, batch_rows=1000, window=3))
    assert all_at_once.window == 3
    for kind in ("state", "mlp"):
        for a, b in zip(one_per_batch.scores[kind], all_at_once.scores[kind], strict=True):
            assert a == pytest.approx(b, abs=1e-5)
    other_seed = trace_fact(lm, MID_SUBJECT, TraceOptions(samples=3, seed=1, window=3))
    assert other_seed.corrupted_p != pytest.approx(all_at_once.corrupted_p, abs=1e-9)


def test_cancel_and_failure_leave_no_hooks(tiny_lm, one_torch_thread):
    import torch

    lm = tiny_lm("gptj")
    before, hooks = _logits(lm), _hooks(lm.model)
    progress = Progress()
    progress.cancel()
    with pytest.raises(Cancelled):
        trace_fact(lm, MID_SUBJECT, FAST, progress)

    def fail(_event):
        raise RuntimeError("device lost")

    with pytest.raises(RuntimeError, match="device lost"):
        trace_facts(lm, [MID_SUBJECT], FAST, Progress(fail))
    assert _hooks(lm.model) == hooks
    assert torch.equal(_logits(lm), before)


def test_window_layers_follow_rome():
    assert list(window_layers(0, 10, 48)) == list(range(0, 5))
    assert list(window_layers(20, 10, 48)) == list(range(15, 25))
    assert list(window_layers(5, 3, 6)) == [4, 5]
    assert list(window_layers(2, 1, 6)) == [2]
    assert default_window(48) == 10 and default_window(28) == 6 and default_window(6) == 1
    assert default_window(1) == 1 and default_window(200) == 10


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="kinds"):
        TraceOptions(kinds=("attn",))
    with pytest.raises(ValueError, match="samples"):
        TraceOptions(samples=0)


# Measured on the demo model (samples 10, noise 3x, the default MLP window of 1 layer): for
# capital facts restoring layer 0's MLP at the subject's last token alone brings P(answer)
# back (France 0.99, Japan 0.99, United Kingdom 0.43, from a corrupted 0.004-0.06), no other
# layer's does (< 0.07): the early layer ROME's small preset edits (layer 0). The state effect
# moves to the last token by the last layers. These are the measured properties, asserted as
# measured; "early-mid" on this 6-layer model means layer 0.
CAPITALS = [("The capital of France is", "France", " Par"), ("Japan's capital is", "Japan", " Tokyo"),
            ("The capital of United Kingdom is", "United Kingdom", " London")]


@pytest.mark.parametrize(("prompt", "subject", "answer"), CAPITALS)
def test_demo_model_recalls_capitals_in_its_early_mlps(demo_lm, prompt, subject, answer, one_torch_thread):
    result = trace_fact(demo_lm, Fact.create(subject=subject, prompt=prompt, target_new="Lyon"))
    assert result.answer == answer and result.clean_p > 0.9
    assert result.corrupted_p < 0.1
    assert result.chosen_kind == "mlp" and result.chosen_layer == 0
    assert all(effect < 0.1 for _, effect in result.top_layers("mlp", 6)[1:])
    assert result.top_layers("mlp", 1)[0][1] > 0.3
    last_token = [row[-1] for row in result.scores["state"]]
    assert last_token[-1] == pytest.approx(result.clean_p, abs=1e-5)
    assert last_token[0] < last_token[-1]
