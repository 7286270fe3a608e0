"""Metrics on hand-built cases: known texts, a tiny model trained to know a few facts,
and agreement between batched and unbatched scoring."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from core.edit.deltas import Delta, DenseUpdate
from core.facts.fact import Fact, fact_from_dict
from core.metrics.evaluation import (
    EvalOptions,
    EvaluationReport,
    FactMetrics,
    Reference,
    aggregate,
    capture_reference,
    evaluate,
)
from core.metrics.fluency import fluency, ngram_entropy, perplexity_ratio, words
from core.metrics.results import TargetProbabilities, TeacherForcedScores, normalise
from core.metrics.scoring import score_pairs
from core.model.fingerprint import state_fingerprint
from core.model.tokens import encode_pair, join_target
from core.util.progress import Cancelled, Progress
from tests.conftest import _SENTENCES, tiny_config

# What the trained tiny model knows (it has memorised _SENTENCES)
FRANCE = Fact.create(
    subject="France", prompt="The capital of France is", target_new="Germany", target_true="Paris",
    paraphrases=["The Eiffel Tower is located in"],
    locality=[{"prompt": "The official language of Germany is", "answer": "German"},
              {"prompt": "The currency of Japan is the", "answer": "Yen"}],
)
KNOWN = Fact.create(subject="France", prompt="The capital of France is", target_new="Paris", target_true="Berlin",
                    portability=[{"prompt": "The Space Needle is in", "answer": "Seattle"}])


@pytest.fixture(scope="module")
def trained_lm(tmp_path_factory, tiny_tokenizer):
    """A tiny GPT-2 trained until it repeats the conftest sentences: answers are known."""
    import torch
    from transformers import AutoModelForCausalLM

    from core.model.loading import LoadOptions, load_model
    from core.model.tokens import right_padded

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(tiny_config("gpt2", len(tiny_tokenizer)))
    encoded = [tiny_tokenizer(s)["input_ids"] + [tiny_tokenizer.eos_token_id] for s in _SENTENCES]
    ids, mask = right_padded(encoded, 0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(200):
        loss = model(input_ids=ids, attention_mask=mask, labels=ids.masked_fill(mask == 0, -100)).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    folder = tmp_path_factory.mktemp("trained-gpt2")
    model.save_pretrained(folder, safe_serialization=True)
    tiny_tokenizer.save_pretrained(folder)
    return load_model(folder, LoadOptions(device="cpu"))


# --- pure functions -------------------------------------------------------------------

def test_fluency_of_a_known_text():
    # "a b a b": bigrams ab, ba, ab -> H2 = H(2/3, 1/3); trigrams aba, bab -> H3 = 1 bit
    h2 = -(2 / 3 * math.log2(2 / 3) + 1 / 3 * math.log2(1 / 3))
    assert fluency("a b a b") == pytest.approx(100 * (2 / 3 * h2 + 4 / 3 * 1.0) / 2)
    assert ngram_entropy(words("a b c d e"), 2) == pytest.approx(2.0)
    assert ngram_entropy(words("a b c d e"), 3) == pytest.approx(math.log2(3))
    assert fluency("") == 0.0 and fluency("one") == 0.0


def test_fluency_penalises_repetition():
    varied = "The Space Needle is a tower in Seattle, built for the 1962 World's Fair."
    repeated = "the the the the the the the the the the the the the the"
    assert fluency(varied) > fluency(repeated) == 0.0


def test_ppl_ratio_and_normalisation():
    assert perplexity_ratio(2.0, 1.0) == pytest.approx(math.e)
    assert normalise("  Paris. ") == normalise("paris") == "paris"
    assert normalise("New  York") == "new york"


def test_targets_get_exactly_one_space(tiny_tokenizer):
    assert join_target("The capital of France is ", "  Paris") == "The capital of France is Paris"
    pair = encode_pair(tiny_tokenizer, "The capital of France is", "Paris")
    assert tiny_tokenizer.decode(list(pair.target_ids)) == " Paris"
    assert pair.prompt_ids == tuple(tiny_tokenizer("The capital of France is")["input_ids"])


def test_aggregate_means_over_facts_and_omits_missing_metrics():
    a = FactMetrics("a", TeacherForcedScores(1.0, (1.0, 0.0), (1.0,)))
    b = FactMetrics("b", TeacherForcedScores(0.0, (), (0.5, 0.5)))
    summary = aggregate([EvaluationReport((a,), ("teacher_forced",)), EvaluationReport((b,), ("teacher_forced",))])
    assert summary == {"reliability": 0.5, "generality": 0.5, "locality": 0.75}
    assert "portability" not in summary


def test_probability_comparison_fields():
    p = TargetProbabilities("q", nll_new=math.log(2), nll_old=math.log(4))
    assert p.p_new == pytest.approx(0.5) and p.p_old == pytest.approx(0.25)
    assert p.success and p.magnitude == pytest.approx(0.25)
    assert TargetProbabilities("q", nll_new=1.0).success is None


# --- scoring on models ---------------------------------------------------------------

PAIRS = [("The capital of France is", "Paris"), ("Berlin is a city in", "Germany"),
         ("The currency of Japan is the", "Yen"), ("Toko Yasuda plays the", "guitar and the piano")]


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_batched_scores_equal_unbatched(tiny_lm, family):
    lm = tiny_lm(family)
    batched = score_pairs(lm, PAIRS, batch_size=4)
    single = [score_pairs(lm, [pair], batch_size=1)[0] for pair in PAIRS]
    for a, b in zip(batched, single, strict=True):
        assert a.token_ids == b.token_ids and a.argmax_ids == b.argmax_ids
        assert a.logprobs == pytest.approx(b.logprobs, abs=1e-4)


def test_scores_match_a_direct_forward_pass(tiny_lm):
    import torch

    lm = tiny_lm("gpt_neox")
    pair = encode_pair(lm.tokenizer, *PAIRS[3])
    with torch.no_grad():
        logp = lm.model(input_ids=torch.tensor([pair.ids])).logits[0].log_softmax(-1)
    start = len(pair.prompt_ids)
    expected = [float(logp[start - 1 + i, t]) for i, t in enumerate(pair.target_ids)]
    score = score_pairs(lm, [PAIRS[3]])[0]
    assert score.logprobs == pytest.approx(expected, abs=1e-5)
    assert score.nll == pytest.approx(-sum(expected) / len(expected), abs=1e-5)


def test_known_answers_on_a_trained_model(trained_lm):
    report = evaluate(trained_lm, [FRANCE, KNOWN])
    wrong, right = (m.summary() for m in report.facts)
    assert right["reliability"] == 1.0 and right["generation.reliability"] == 1.0
    assert right["portability"] == 1.0 and right["probability.reliability"] == 1.0
    assert wrong["reliability"] == 0.0 and wrong["generation.reliability"] == 0.0
    assert wrong["probability.reliability"] == 0.0 and wrong["probability.p_old"] > 0.5
    assert wrong["locality"] == 1.0 and wrong["generation.locality"] == 1.0
    assert wrong["probability.locality"] == 1.0  # German and Yen beat Germany on their prompts
    assert report.facts[0].top_k[0].token == " Paris"
    assert wrong["ppl_r"] > 0 and wrong["fluency"] > 0


def test_locality_is_one_when_nothing_changed(trained_lm):
    before = state_fingerprint(trained_lm.model)
    name = trained_lm.spec.mlp_out_weight(1)
    zero = Delta("none", (DenseUpdate(name, dict(trained_lm.model.named_parameters())[name].detach() * 0),))
    report = evaluate(trained_lm, [FRANCE], edit=zero)
    summary = report.summary()
    assert summary["locality"] == 1.0 and summary["generation.locality"] == 1.0
    assert summary["probability.locality"] == 1.0
    assert state_fingerprint(trained_lm.model) == before


def test_an_ft_m_edit_is_measured_and_reverted(trained_lm):
    from core.methods.ft import FT_M
    from core.methods.hparams import with_overrides

    before = state_fingerprint(trained_lm.model)
    hp = with_overrides(FT_M.preset(trained_lm), {"lr": 5e-2, "steps": 30, "layers": (0, 1, 2, 3)})
    delta = FT_M.compute(trained_lm, [FRANCE], hp, Progress())
    edited = evaluate(trained_lm, [FRANCE], edit=delta).summary()
    baseline = evaluate(trained_lm, [FRANCE]).summary()
    assert state_fingerprint(trained_lm.model) == before
    assert baseline["reliability"] == 0.0 and edited["reliability"] == 1.0
    assert edited["probability.p_new"] > baseline["probability.p_new"]
    assert edited["ppl_r"] > 0


def test_reports_are_json_and_references_round_trip(trained_lm):
    reference = capture_reference(trained_lm, [FRANCE, KNOWN])
    again = Reference.from_dict(json.loads(json.dumps(reference.to_dict())))
    assert again == reference
    report = evaluate(trained_lm, [FRANCE, KNOWN], reference=again)
    text = json.dumps(report.to_dict(), allow_nan=False)
    assert '"teacher_forced"' in text and '"summary"' in text
    assert report.to_dict()["facts"][0]["fluency"]["ppl_r"] is None  # no edit given: no unedited model
    with pytest.raises(ValueError, match="capture it before editing"):
        evaluate(trained_lm, [FRANCE], reference=Reference(()))


def test_protocols_can_be_chosen(trained_lm):
    report = evaluate(trained_lm, [FRANCE], protocols=["probability"])
    fact = report.facts[0]
    assert fact.teacher_forced is None and fact.generation is None and fact.probability is not None
    assert set(report.summary()) == {k for k in report.summary() if k.startswith("probability.")}
    with pytest.raises(ValueError, match="unknown protocol"):
        evaluate(trained_lm, [FRANCE], options=EvalOptions(protocols=("bleu",)))


def test_cancelled_evaluation_leaves_the_model_unchanged(trained_lm):
    before = state_fingerprint(trained_lm.model)
    name = trained_lm.spec.mlp_out_weight(0)
    delta = Delta("nudge", (DenseUpdate(name, dict(trained_lm.model.named_parameters())[name].detach() * 0.1),))
    # cancel once the reference is captured, while the delta is applied
    progress = Progress(lambda event: progress.cancel() if (event.fraction or 0) > 0.2 else None)
    with pytest.raises(Cancelled):
        evaluate(trained_lm, [FRANCE], edit=delta, progress=progress)
    assert state_fingerprint(trained_lm.model) == before


def test_ppl_r_never_scores_past_the_model_context(tiny_lm):
    """A prompt near the 64-token context: the forced continuation is cut to fit, not an index error."""
    lm = tiny_lm("gpt2")
    long_prompt = " ".join(["The capital of France is Paris."] * 7) + " The capital of France is"
    fact = Fact.create(subject="France", prompt=long_prompt, target_new="Germany", target_true="Paris")
    assert len(lm.tokenizer(long_prompt)["input_ids"]) < 64
    report = evaluate(lm, [fact], options=EvalOptions(protocols=("fluency",), fluency_tokens=30))
    ratio = report.facts[0].fluency.ppl_r
    assert ratio is None or (math.isfinite(ratio) and ratio > 0)


def test_fluency_reads_damage_to_the_model(demo_lm):
    """Wrecking the last MLP (noise 60× its weights' spread) changes the model's free text;
    100-token fluency (ROME's length, capped by the 64-token context) must show it. The
    demo model writes one sentence and stops, so a milder change that keeps the number of
    words (one answer for another) leaves the n-gram entropy as it was, by its definition."""
    import contextlib

    import torch

    from core.util.paths import demo_edits_file

    facts = [fact_from_dict(json.loads(line)) for line in demo_edits_file().read_text().splitlines()[:6]]
    weight = dict(demo_lm.model.named_parameters())["transformer.h.5.mlp.c_proj.weight"]
    noise = 4.0 * torch.randn(weight.shape, generator=torch.Generator().manual_seed(0))

    @contextlib.contextmanager
    def wrecked():
        saved = weight.detach().clone()
        try:
            with torch.no_grad():
                weight.add_(noise)
            yield
        finally:
            with torch.no_grad():
                weight.copy_(saved)

    options = EvalOptions(protocols=("fluency",))
    assert options.fluency_tokens == 100
    before = aggregate(evaluate(demo_lm, facts, options=options))["fluency"]
    after = aggregate(evaluate(demo_lm, facts, edit=wrecked, options=options))["fluency"]
    assert aggregate(evaluate(demo_lm, facts, options=options))["fluency"] == before  # restored
    assert abs(after - before) / before > 0.05, (before, after)


@pytest.mark.parametrize("field", ["paraphrases", "locality"])
def test_a_prompt_longer_than_the_context_is_refused_by_name(demo_lm, field):
    """The demo model holds 64 positions: a longer paraphrase or locality prompt gets a
    message naming the request and field, not an IndexError from the embedding."""
    from core.metrics.evaluation import ContextTooLongError
    from core.workflows.editing import compute_edit

    long = "In a sentence that goes on " + "and on " * 40 + "France's capital is"
    fact = fact_from_dict({"subject": "France", "prompt": "The capital of France is", "target_new": "Lyon",
                           **({"paraphrases": [long]} if field == "paraphrases"
                              else {"locality": [{"prompt": long, "answer": "Paris"}]})})
    with pytest.raises(ContextTooLongError, match=rf"request 1 \(France\): {field}\[0\] with its answer is \d+ "
                                                  r"tokens, but the model's context holds 64"):
        evaluate(demo_lm, [fact])
    with pytest.raises(ContextTooLongError, match=rf"{field}\[0\]"):
        compute_edit(demo_lm, [fact], "grace")


def test_a_prompt_that_overflows_only_with_its_old_answer_is_refused_by_name(demo_lm):
    """Trial 39: the prompt fit with its new answer, and the old answer took it past 64 positions:
    the editor said Valid and the preview failed with "index out of range in self"."""
    from core.metrics.evaluation import ContextTooLongError, context_problem
    from core.model.generation import max_positions
    from core.workflows.editing import compute_edit

    prompt = "And so " * 13 + "the capital of Portugal is"  # 58 tokens with "Porto", 71 with the old answer
    fact = fact_from_dict({"subject": "Portugal", "prompt": prompt, "target_new": "Porto",
                           "target_true": "Andorra la Vella and Andorra la Vella and Andorra la Vella"})
    limit = max_positions(demo_lm.model.config)
    assert context_problem(demo_lm.tokenizer, limit, dataclasses.replace(fact, target_true="")) is None, \
        "with its new answer alone it fits"
    assert "prompt with its old answer is 71 tokens" in context_problem(demo_lm.tokenizer, limit, fact)
    with pytest.raises(ContextTooLongError, match=r"request 1 \(Portugal\): prompt with its old answer is \d+ tokens"):
        compute_edit(demo_lm, [fact], "ft-m", overrides={"steps": 1})
    # the probability protocol also reads the new answer after each locality prompt (second review, stop 34)
    short = fact_from_dict({"subject": "Portugal", "prompt": "The capital of Portugal is", "target_new":
                            "Andorra la Vella and Andorra la Vella and Andorra la Vella",
                            "locality": [{"prompt": "And so " * 13 + "the capital of Spain is", "answer": "Madrid"}]})
    assert context_problem(demo_lm.tokenizer, limit, short).startswith("locality[0] with the new answer is")
