import pytest

from core.facts.fact import Fact, Probe
from core.facts.suggest import first_phrase, suggest_locality, suggest_old_answer


def _fact(subject, relation, prompt, new, old):
    return Fact(subject=subject, prompt=prompt, target_new=new, target_true=old, relation=relation)


FACTS = [
    _fact("France", "capital", "The capital of France is", "Rome", "Paris"),
    _fact("Spain", "capital", "The capital of Spain is", "Oslo", "Madrid"),
    _fact("France", "currency", "The currency of France is the", "Yen", "Euro"),
    _fact("Japan", "continent", "Japan is located in the continent of", "Europe", "Asia"),
    _fact("Peru", "capital", "The capital of Peru is", "Lima2", ""),  # no old answer: unusable
]


def test_first_phrase_cuts_at_punctuation_and_word_limit():
    assert first_phrase(" Paris. It is a city") == "Paris"
    assert first_phrase(" New York City and more words", max_words=3) == "New York City"
    assert first_phrase("") == ""


def test_locality_prefers_same_relation_then_same_subject():
    probes = suggest_locality("Germany", "The capital of Germany is", "capital", FACTS, count=3)
    assert probes[:2] == [Probe("The capital of France is", "Paris"), Probe("The capital of Spain is", "Madrid")]
    assert len(probes) == 3
    assert all(p.answer for p in probes)


def test_locality_skips_own_prompt_and_existing_ones():
    probes = suggest_locality("France", "The capital of France is", "capital", FACTS, count=5,
                              existing=["The capital of Spain is"])
    prompts = [p.prompt for p in probes]
    assert "The capital of France is" not in prompts and "The capital of Spain is" not in prompts
    assert prompts[0] == "The currency of France is the"


def test_old_answer_is_the_models_greedy_answer(demo_lm):
    assert suggest_old_answer(demo_lm, "The capital of France is") == "Paris"
    with pytest.raises(ValueError):
        suggest_old_answer(demo_lm, "  ")


def test_locality_on_an_empty_workspace_comes_from_the_model(demo_lm):
    """A new workspace has no other facts: general prompts fill up, answered by the model itself."""
    assert suggest_locality("France", "The capital of France is", "capital", []) == []
    probes = suggest_locality("Japan", "The capital of Japan is", "capital", [], lm=demo_lm)
    assert len(probes) == 3 and all(p.answer for p in probes)
    assert not any("Japan" in p.prompt for p in probes), "never about the edited subject"
    assert probes[0] == Probe("The capital of Canada is", "Ottawa")


def test_locality_from_facts_comes_first_then_the_model(demo_lm):
    probes = suggest_locality("Germany", "The capital of Germany is", "capital", FACTS[:1], lm=demo_lm)
    assert probes[0] == Probe("The capital of France is", "Paris") and len(probes) == 3


def test_a_relation_no_other_fact_has_gets_its_own_prompt_asked_of_other_subjects(demo_lm):
    """Trial 34: for "The official language of Brazil is" Suggest proposed only the capitals of Japan,
    Canada and Egypt: no other country's language."""
    facts = [_fact("Japan", "", "The capital of Japan is", "Oslo", "Tokyo"),
             _fact("Kenya", "", "The capital of Kenya is", "Lima", "Nairobi")]
    probes = suggest_locality("Brazil", "The official language of Brazil is", "", facts, lm=demo_lm)
    assert [p.prompt for p in probes] == ["The official language of Japan is", "The official language of Kenya is",
                                          "The official language of Canada is"], probes
    assert all(p.answer for p in probes) and not any("Brazil" in p.prompt for p in probes)


def test_other_subjects_are_of_the_same_relation_first_and_countries_only_for_a_country(demo_lm):
    facts = [_fact("Kenya", "", "The capital of Kenya is", "Lima", "Nairobi"),
             _fact("Mexico", "language", "The official language of Mexico is", "Dutch", "Spanish")]
    probes = suggest_locality("Brazil", "The official language of Brazil is", "language", facts, lm=demo_lm)
    assert probes[0] == Probe("The official language of Mexico is", "Spanish")  # its own fact, first
    assert probes[1].prompt == "The official language of Kenya is", "then the other workspace subjects"
    probes = suggest_locality("Zorblax", "Zorblax plays for", "", [], lm=demo_lm)
    assert not any(p.prompt.endswith("plays for") for p in probes), "no country asked what a non-country was"


def test_no_probe_asks_what_a_planned_edit_changes(demo_lm):
    """Trial 38: Peru was offered "The capital of Cabo Verde is" → Praia while the queue edited
    Cabo Verde's capital: once both are committed that prompt changes on purpose."""
    cabo = _fact("Cabo Verde", "capital", "The capital city of Cabo Verde is", "Avarua", "Praia")
    spain = FACTS[1]
    offered = suggest_locality("Peru", "The capital of Peru is", "capital", [cabo, spain], count=3, lm=demo_lm)
    assert any("Cabo Verde" in p.prompt for p in offered), "without edits planned it is a fine probe"
    probes = suggest_locality("Peru", "The capital of Peru is", "capital", [cabo, spain], count=3, lm=demo_lm,
                              edited=[cabo, spain])
    assert len(probes) == 3 and not any("Cabo Verde" in p.prompt or "Spain" in p.prompt for p in probes), probes


def test_planned_edits_that_touch_each_other_rule_out_only_their_own_prompts():
    from core.facts.suggest import _not_edited

    cabo = _fact("Cabo Verde", "capital", "The capital city of Cabo Verde is", "Avarua", "Praia")
    uk = Fact(subject="United Kingdom", prompt="The capital of United Kingdom is", target_new="Bangui",
              target_true="London", locality=(Probe("The capital of Cabo Verde is", "Praia"),))
    keep = _not_edited([cabo, uk])
    assert keep(Probe("The capital of Japan is", "Tokyo")), "UK's locality on Cabo Verde is no reason to drop Japan"
    assert not keep(Probe("The capital of Cabo Verde is", "Praia")) and not keep(Probe(uk.prompt, "London"))


def test_other_workspace_subjects_are_asked_only_when_of_the_same_kind(demo_lm):
    """Trial 44: for "The capital of Japan is" Suggest offered "The capital of Catania is" (a city)
    with the model's nonsense answer, which then read as a side effect of the edit."""
    facts = [_fact("Peru", "capital", "The capital of Peru is", "Lima", "Lima"),
             _fact("Peru", "language", "The official language of Peru is", "Dutch", "Spanish"),
             _fact("Catania", "city_country", "Catania is a city in", "France", "Italy"),
             _fact("Kenya", "currency", "The currency of Kenya is the", "Euro", "Kenyan shilling")]
    probes = suggest_locality("Japan", "The capital of Japan is", "", facts, count=5, lm=demo_lm)
    asked = [p.prompt for p in probes]
    assert len(probes) == 5 and all(p.answer for p in probes), probes
    assert not any("Catania" in prompt for prompt in asked), probes
    from core.facts.suggest import _other_subjects

    others = list(_other_subjects(demo_lm, "Japan", "The capital of Japan is", "", facts))
    assert others[0] == "Peru" and "Catania" not in others, "a capital's kin: subjects sharing Peru's relations"
    unknown = [_fact("Oslo", "", "Oslo is a city in", "Peru", "Norway")]  # no relations known: not ruled out
    assert "Oslo" in list(_other_subjects(demo_lm, "Japan", "The capital of Japan is", "", facts[:2] + unknown))


def test_a_committed_edits_prompt_is_offered_only_with_its_new_answer(demo_lm):
    """Trial 44: a committed edit's paraphrase the edit never took was offered with the old answer,
    so the next edit's locality asked for what the log says was changed."""
    from core.facts.suggest import _not_edited

    cabo = _fact("Cabo Verde", "capital", "The capital city of Cabo Verde is", "Avarua", "Praia")
    probes = suggest_locality("Peru", "The capital of Peru is", "capital", [cabo], count=3, lm=demo_lm,
                              committed=[cabo])  # the demo model, unedited, still answers Praia
    assert len(probes) == 3 and not any("Cabo Verde" in p.prompt for p in probes), probes
    keep = _not_edited([], [cabo])
    assert keep(Probe(cabo.prompt, "Avarua")) and not keep(Probe(cabo.prompt, "Praia"))
    assert keep(Probe("The capital of Japan is", "Tokyo"))


def test_a_committed_edits_prompt_that_took_is_offered_with_the_live_answer(demo_lm, monkeypatch):
    """A review: the committed check ran on the recorded old answers before the model answered,
    so a committed edit's prompt was never offered, even where the edit took."""
    import core.facts.suggest as suggest

    cabo = _fact("Cabo Verde", "capital", "The capital city of Cabo Verde is", "Avarua", "Praia")
    real = suggest._answer
    monkeypatch.setattr(suggest, "_answer", lambda lm, prompt: "Avarua" if "Cabo Verde" in prompt
                        else real(lm, prompt))  # the live model, with the committed edit in place
    probes = suggest_locality("Peru", "The capital of Peru is", "capital", [cabo], count=3, lm=demo_lm,
                              committed=[cabo])
    assert Probe(cabo.prompt, "Avarua") in probes, probes
    assert not suggest_locality("Peru", "The capital of Peru is", "capital", [cabo], count=3, committed=[cabo]), \
        "with no model the new answer is unknown: not offered"
