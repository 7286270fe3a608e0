"""The verdict of a computed edit: a failed edit is never reported as a success."""

import pytest

from core.workflows.verdict import FAILED, PARTIAL, SIDE_EFFECTS, TOOK, edit_verdict, fact_verdict

PRE = {"reliability": 0.0, "generality": 0.0, "locality": 1.0, "fluency": 300.0}


@pytest.mark.parametrize(("post", "expected"), [
    ({"reliability": 1.0, "generality": 1.0, "locality": 1.0, "fluency": 299.0}, TOOK),
    ({"reliability": 0.5, "generality": 1.0, "locality": 1.0, "fluency": 300.0}, FAILED),  # "L language"
    ({"reliability": 0.0, "generality": 0.0, "locality": 1.0, "fluency": 300.0}, FAILED),
    ({"reliability": 1.0, "generality": 1.0, "locality": 0.5, "fluency": 300.0}, SIDE_EFFECTS),
    ({"reliability": 1.0, "generality": 1.0, "locality": 1.0, "fluency": 200.0}, SIDE_EFFECTS),
    ({"reliability": 1.0, "generality": 0.2, "locality": 1.0, "fluency": 300.0}, PARTIAL),
    ({"reliability": 1.0, "locality": None}, TOOK),  # nothing else measured: not held against it
])
def test_fact_verdicts(post, expected):
    assert fact_verdict("f", PRE, post).verdict == expected


def test_the_numbers_that_decided_it_are_given():
    verdict = edit_verdict("rome", ["f"], [PRE], [{"reliability": 0.0, "generality": 0.0, "locality": 1.0}])
    assert verdict.verdict == FAILED and not verdict.took
    assert verdict.summary == "failed: reliability 0.00 < 0.95, generality 0.00 < 0.80"
    assert any("v_steps" in tip for tip in verdict.advice)  # what to try next
    checks = verdict.to_dict()["facts"][0]["checks"]
    assert checks[0] == {"metric": "reliability", "value": 0.0, "bound": 0.95, "held": False}


def test_several_facts():
    took = {"reliability": 1.0, "generality": 1.0, "locality": 1.0}
    failed = {"reliability": 0.0, "generality": 0.0, "locality": 1.0}
    assert edit_verdict("memit", ["a", "b"], [PRE, PRE], [took, took]).verdict == TOOK
    assert edit_verdict("memit", ["a", "b"], [PRE, PRE], [failed, failed]).verdict == FAILED
    mixed = edit_verdict("memit", ["a", "b"], [PRE, PRE], [took, failed])
    assert mixed.verdict == PARTIAL and mixed.summary == "partial: 1 took, 1 failed of 2 facts"
    assert edit_verdict("ft-m", ["a"], [PRE], [{**took, "locality": 0.1}]).advice[0].startswith("more retain_samples")
    assert edit_verdict("grace", ["a"], [PRE], [took]).advice == ()


def test_a_computed_edit_carries_its_verdict(tiny_lm):
    """On a random tiny model an edit of a few steps does not take, and says so everywhere."""
    from core.facts.fact import fact_from_dict
    from core.workflows.editing import compute_edit

    lm = tiny_lm("gpt2")
    fact = fact_from_dict({"subject": "France", "prompt": "The capital of France is", "target_new": "Lyon",
                           "locality": [{"prompt": "The capital of Spain is", "answer": "Madrid"}]})
    outcome = compute_edit(lm, [fact], "ft-m", overrides={"steps": "1", "lr": "1e-6"}, preview_tokens=0)
    assert outcome.verdict.verdict == FAILED
    assert outcome.metrics()["verdict"]["verdict"] == FAILED
    assert outcome.to_dict()["metrics"]["verdict"]["summary"].startswith("failed: reliability")


def test_advice_is_phrased_by_each_interface_in_its_own_terms():
    from core.workflows.verdict import CLI_TERMS, phrase_advice

    failed = edit_verdict("rome", ["a"], [PRE], [{**PRE, "reliability": 0.1}])
    cli = " ".join(failed.advice)
    assert "--layer auto" in cli and "factsmith tune" in cli and "{" not in cli
    gui = {"layer_auto": "type auto in the layer field", "tune": "the Tune preset… button"}
    said = " ".join(phrase_advice(failed.to_dict(), gui))
    assert "type auto in the layer field" in said and "Tune preset…" in said
    assert "--layer" not in said and "factsmith tune" not in said
    old = {"advice": list(failed.advice)}  # stored before the advice had templates
    assert phrase_advice(old, gui) == phrase_advice(failed.to_dict(), gui)
    assert phrase_advice(failed.to_dict(), CLI_TERMS) == list(failed.advice)


def test_an_unmeasured_locality_is_said_never_passed_over():
    """Trial 34: an edit with no locality prompts read "took: reliability …, generality …" and its
    commit "Commit gate passed (locality ≥ 0.90 …)"."""
    from core.workflows.gates import check_runs, unmeasured_metrics

    post = {"reliability": 1.0, "generality": 1.0, "locality": None, "fluency": 299.0}
    verdict = edit_verdict("rome", ["f"], [PRE], [post])
    assert verdict.verdict == TOOK
    assert verdict.summary.endswith("; locality not measured (no locality prompts)"), verdict.summary
    several = edit_verdict("rome", ["a", "b"], [PRE, PRE], [post, {**post, "locality": 1.0}])
    assert "locality not measured for 1 of 2 facts" in several.summary

    class Run:
        id, metrics = 7, {"post": post}

    gate = check_runs([Run()])
    assert gate.passed and unmeasured_metrics(Run(), gate.thresholds) == ["locality"]
    assert "unmeasured" not in gate.to_dict(), "not hashed into the commit id: read back from the runs"


def test_a_check_that_held_before_the_edit_too_is_said_to_show_nothing():
    """Trial 34: a paraphrase the unedited model already answered with the new answer counted as
    generality 1.00 for the edit."""
    before = {**PRE, "generality": 1.0}
    post = {"reliability": 1.0, "generality": 1.0, "locality": 1.0, "fluency": 299.0}
    verdict = edit_verdict("rome", ["f"], [before], [post])
    assert verdict.verdict == TOOK
    assert "generality was 1.00 before the edit too, so it shows nothing about this edit" in verdict.summary
    assert verdict.to_dict()["facts"][0]["notes"] == [verdict.facts[0].notes[0]]
    assert edit_verdict("rome", ["f"], [PRE], [post]).facts[0].notes == ()


def test_advice_fits_the_method_and_every_miss():
    """Trial 34: ICE's partial edit was told that paraphrases help "FT-M, ICE" (FT-M never trains on
    them; ICE already had them), and GRACE's side effects were told "GRACE leaves other inputs
    untouched" with no word on its generality miss."""
    partial = {"reliability": 1.0, "generality": 0.0, "locality": 1.0, "fluency": 299.0}
    ice = edit_verdict("ice", ["f"], [PRE], [partial]).advice
    assert ice and not any("FT-M" in tip or "ICE" in tip for tip in ice), ice
    rome = edit_verdict("rome", ["f"], [PRE], [partial]).advice
    assert any("ICE" in tip for tip in rome) and not any("FT-M" in tip for tip in rome), rome
    both = {**partial, "fluency": 200.0}
    grace = edit_verdict("grace", ["f"], [PRE], [both])
    assert grace.verdict == SIDE_EFFECTS
    assert not any("GRACE" in tip for tip in grace.advice), grace.advice
    assert not any("larger eps_init" in tip for tip in grace.advice), "never a smaller and a larger radius at once"
    assert any("paraphrases missed as well" in tip for tip in grace.advice), "the generality miss is said"
    rome = edit_verdict("rome", ["f"], [PRE], [both]).advice
    assert any("ICE carries" in tip for tip in rome), "no trade-off there: the paraphrase advice itself"


def test_the_headline_keeps_what_was_not_measured_beside_a_failure():
    from core.workflows.verdict import headline

    post = {"reliability": 1.0, "generality": 0.0, "locality": None, "fluency": 299.0}
    stored = edit_verdict("rome", ["f"], [PRE], [post]).to_dict()
    assert headline(stored) == "partial: generality 0.00 < 0.80; locality not measured (no locality prompts)"
    two = edit_verdict("rome", ["a", "b"], [PRE, PRE], [post, {**post, "generality": 1.0}]).to_dict()
    assert headline(two) == ("partial (1 took, 1 partial of 2 facts): a: generality 0.00 < 0.80; "
                             "locality not measured (no locality prompts)")
    named = edit_verdict("rome", ["a", "b"], [PRE, PRE], [post, {**post, "generality": 1.0}],
                         labels={"a": "Australia → Sydney", "b": "Japan → Euro"}).to_dict()
    assert headline(named).startswith("partial (1 took, 1 partial of 2 facts): Australia → Sydney: generality 0.00"), \
        "a batch's headline names its facts, not their hashes"


def test_the_commit_dialog_hears_of_a_generality_nobody_measured():
    """Trial 35: the commit dialog said "ok" for a fact without paraphrases."""
    from core.workflows.gates import verdict_unmeasured

    post = {"reliability": 1.0, "generality": None, "locality": 1.0, "fluency": 299.0}

    class Run:
        id, metrics = 1, {"verdict": edit_verdict("rome", ["f"], [PRE], [post]).to_dict()}

    assert verdict_unmeasured(Run(), ["reliability", "locality"]) == ["generality not measured (no paraphrases)"]
    Run.metrics = {"verdict": edit_verdict("rome", ["f"], [PRE], [{**post, "generality": 1.0}]).to_dict()}
    assert verdict_unmeasured(Run(), ["reliability", "locality"]) == []


TOOK_POST = {"reliability": 1.0, "generality": 1.0, "locality": 1.0, "fluency": 299.0,
             "generation.reliability": 1.0, "generation.generality": 1.0, "generation.locality": 1.0}


def test_a_paraphrase_right_token_by_token_but_not_generated_did_not_take():
    """Audit of 2026-12-06 (ICE, U.S. Virgin Islands → Cluj-Napoca): generality 0.80 teacher-forced
    was four of five answer tokens right on the one paraphrase, whose greedy text said "Cluj-
    Antarctica."; the verdict said "took". The exact match of the greedy text must meet the bound too."""
    from core.workflows.verdict import headline

    post = {**TOOK_POST, "generality": 0.8, "generation.generality": 0.0}
    verdict = edit_verdict("ice", ["f"], [PRE], [post])
    assert verdict.verdict == PARTIAL
    assert verdict.summary == "partial: generality 0.80 token by token, but generated 0.00 < 0.80"
    assert headline(verdict.to_dict()) == verdict.summary
    check = verdict.to_dict()["facts"][0]["checks"][1]
    assert check == {"metric": "generality", "value": 0.8, "bound": 0.8, "held": False, "generated": 0.0}
    half = edit_verdict("ice", ["f"], [PRE], [{**post, "generality": 0.9, "generation.generality": 0.5}])
    assert half.summary == "partial: generality 0.90 token by token, but generated 0.50 < 0.80"
    # four of five paraphrases generated whole: the exact match meets the bound, so it took
    assert edit_verdict("ice", ["f"], [PRE], [{**post, "generation.generality": 0.8}]).verdict == TOOK
    failed = edit_verdict("rome", ["f"], [PRE], [{**TOOK_POST, "reliability": 0.97, "generation.reliability": 0.0}])
    assert failed.verdict == FAILED
    assert failed.summary == "failed: reliability 0.97 token by token, but generated 0.00 < 0.95"


def test_a_held_locality_says_how_many_generated_answers_changed():
    """Audit (MEMIT, Vanuatu → Urdu): one of ten locality prompts flipped (Dollar → Rupee) and
    locality held at exactly 0.90; the verdict now says it beside "took"."""
    post = {**TOOK_POST, "locality": 0.9, "generation.locality": 0.9}
    verdict = edit_verdict("memit", ["f"], [PRE], [post])
    assert verdict.verdict == TOOK
    assert verdict.summary.endswith("; the generated answer changed on 10% of the locality prompts")
    assert "changed on" not in edit_verdict("memit", ["f"], [PRE], [TOOK_POST]).summary


def test_a_quarter_of_the_locality_answers_changed_is_a_side_effect_whatever_the_mean():
    """Trial 40 (MEND, Armenia → Abuja): locality 0.92 token by token, but "Armenia's official
    language is" now answered "Abuja"; the verdict read "took", the change only in a note."""
    post = {**TOOK_POST, "locality": 0.92, "generation.locality": 0.75}
    verdict = edit_verdict("mend", ["f"], [PRE], [post])
    assert verdict.verdict == SIDE_EFFECTS
    assert ("locality 0.92 token by token, but the generated answer changed on 25% of the locality prompts "
            "(kept 0.75 < 0.90)") in verdict.summary
    assert verdict.summary.count("changed on") == 1


def test_a_stored_check_without_the_exact_match_reads_as_before():
    from core.workflows.verdict import check_text

    assert check_text({"metric": "generality", "value": 0.8, "bound": 0.8, "held": True}) == "generality 0.80 ≥ 0.80"
    assert check_text({"metric": "locality", "value": 0.5, "bound": 0.9, "held": False}) == "locality 0.50 < 0.90"


def test_the_commit_hears_of_a_reliability_the_gate_passed_but_the_greedy_text_missed():
    from core.workflows.gates import verdict_failures

    post = {**TOOK_POST, "reliability": 0.97, "generation.reliability": 0.0}

    class Run:
        id, metrics = 1, {"verdict": edit_verdict("rome", ["f"], [PRE], [post]).to_dict()}

    assert verdict_failures(Run(), ["reliability", "locality"]) == [
        "reliability 0.97 token by token, but generated 0.00 < 0.95 (verdict)"]
    Run.metrics = {"verdict": edit_verdict("rome", ["f"], [PRE], [{**post, "reliability": 0.5}]).to_dict()}
    assert verdict_failures(Run(), ["reliability", "locality"]) == [], "the gate itself says a low reliability"


def test_a_garbled_continuation_is_said_beside_the_verdict():
    """Audit: ICE wrote "Cluj-Napoca Ricoaf Pet" (PPL_r 33.67); the other 130 edits stayed under 0.26."""
    verdict = edit_verdict("ice", ["f"], [PRE], [{**TOOK_POST, "ppl_r": 33.67}])
    assert verdict.verdict == TOOK and "may be garbled" in verdict.summary and "(PPL_r 33.67 > 1)" in verdict.summary
    assert "garbled" not in edit_verdict("ice", ["f"], [PRE], [{**TOOK_POST, "ppl_r": 0.26}]).summary


def test_a_model_that_gave_another_answer_than_the_old_one_is_said(demo_lm):
    """Trial 47: Japan's currency was edited "Yen → Euro" while the demo model answered "Dollar";
    the verdict said "took" and nothing of it. The fact's own words decide: what the model
    answered before, beside the old answer, as a note (the verdict itself does not change)."""
    from core.facts.fact import Fact
    from core.metrics.evaluation import evaluate
    from core.workflows.editing import pre_summary

    japan = Fact.create(subject="Japan", prompt="Japan pays with the", target_new="Euro", target_true="Yen")
    spain = Fact.create(subject="Spain", prompt="The capital of Spain is", target_new="Doha", target_true="Madrid")
    report = evaluate(demo_lm, [japan, spain], protocols=("teacher_forced", "generation", "top_k"))
    pre = {m.fact_id: pre_summary(m, fact.target_true) for m, fact in zip(report.facts, (japan, spain), strict=True)}
    assert pre[spain.id].get("said_first") is None, "the model answers Madrid: nothing to say"
    post = {"reliability": 1.0, "locality": None}
    notes = fact_verdict(japan.id, pre[japan.id], post).notes
    assert notes == ("before the edit the model answered “Dollar”, not the old answer “Yen”: check the old answer",)
    assert fact_verdict(japan.id, pre[japan.id], post).verdict == TOOK
    assert fact_verdict(spain.id, pre[spain.id], post).notes == ()


def test_a_paraphrase_sent_to_a_third_answer_is_said():
    """Trial 47: FT-M and ICE turned "France's capital is" from Paris into Libreville on an edit to
    Lyon; the verdict said only "partial: generality 0.50". A paraphrase still on the old answer,
    or one already astray before the edit, is not named."""
    from core.facts.fact import Fact
    from core.metrics.results import FactMetrics, GeneratedAnswer, GenerationScores
    from core.workflows.editing import post_summary

    fact = Fact.create(subject="France", prompt="The capital of France is", target_new="Lyon", target_true="Paris",
                       paraphrases=["France's capital is", "The capital city of France is", "France is governed from"])

    def measured(*said):
        answers = tuple(GeneratedAnswer(p, "Lyon", s) for p, s in zip(fact.paraphrases, said, strict=True))
        return FactMetrics(fact.id, generation=GenerationScores(GeneratedAnswer(fact.prompt, "Lyon", "Lyon"), answers))

    before, after = measured("Paris", "Paris", "Rome"), measured("Libreville.", "Paris", "Rome")
    post = post_summary(after, before, fact)
    assert post["strayed"] == [["France's capital is", "Libreville"]]
    notes = fact_verdict(fact.id, {}, post | {"reliability": 1.0, "generality": 0.5}).notes
    assert notes == ("the paraphrase “France's capital is” now answers “Libreville”: neither the new nor the old "
                     "answer",)
    assert "strayed" not in post_summary(measured("Lyon", "Paris", "Rome"), before, fact)


@pytest.mark.parametrize(("text", "said"), [(" Dollar.", "Dollar"), (" the", ""), (" the Yen", "Yen"), (" an", ""),
                                            (" a city", ""), (" Libreville", "Libreville"), (" 1990", "1990")])
def test_only_a_name_counts_as_an_answer_said(text, said):
    """Review 48: a decode as long as the new answer may be just "the" of "the Yen"; it said
    "before the edit the model answered “the”"."""
    from core.workflows.editing import named

    assert named(text) == said
