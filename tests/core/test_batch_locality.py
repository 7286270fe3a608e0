"""A batch edit's locality leaves out the prompts the batch edits on purpose (trial 36: the
United Kingdom's locality prompt "The capital of Cabo Verde is" counted Cabo Verde's own edit,
in the same batch, as the UK edit's side effect)."""

import pytest

from core.facts.fact import Fact, Probe
from core.facts.intended import intended_locality
from core.workflows.batch_locality import BATCH_KIND

UK = Fact(subject="United Kingdom", prompt="The capital of United Kingdom is", target_new="Bangui",
          target_true="London",
          locality=(Probe("The capital of Cabo Verde is", "Praia"), Probe("The capital of Tajikistan is", "Dushanbe")))
CABO = Fact(subject="Cabo Verde", prompt="The capital of  cabo verde is", target_new="Avarua", target_true="Praia",
            paraphrases=("The capital city of Cabo Verde is",),
            locality=(Probe("The capital of United Kingdom is", "London"),))


def test_the_prompts_another_fact_of_the_batch_edits_are_found():
    assert intended_locality([UK, CABO]) == {UK.id: frozenset({0}), CABO.id: frozenset({0})}
    assert intended_locality([UK]) == {}, "alone, every locality prompt counts"


def test_a_prompt_that_names_the_subject_and_expects_its_old_answer_is_edited_by_it():
    """Trial 38: the demo set's Cabo Verde fact edits "The capital city of Cabo Verde is", so UK's
    "The capital of Cabo Verde is" → Praia is another phrasing of it, not an unrelated prompt."""
    city = Fact(subject="Cabo Verde", prompt="The capital city of Cabo Verde is", target_new="Avarua",
                target_true="Praia", locality=(Probe("Cabo Verde is located in the continent of", "Africa"),))
    assert intended_locality([UK, city]) == {UK.id: frozenset({0})}, "its continent is not what Cabo Verde edits"
    niger = Fact(subject="Niger", prompt="The capital of Niger is", target_new="Lagos", target_true="Niamey")
    nigeria = Fact(subject="Nigeria", prompt="The capital of Nigeria is", target_new="Accra", target_true="Abuja",
                   locality=(Probe("The capital of Niger is", "Niamey"), Probe("The capital city of Niger is",
                                                                         "Niamey")))
    assert intended_locality([niger, nigeria]) == {nigeria.id: frozenset({0, 1})}
    odd = Fact(subject="Chad", prompt="The capital of Chad is", target_new="Lagos", target_true="N'Djamena",
               locality=(Probe("The city of Nigeria nearest to Niamey is", "Niamey"),))  # the same answer
    assert intended_locality([niger, odd]) == {}, "Nigeria is not Niger: whole words only"


def test_a_batch_edit_measures_locality_without_them_and_the_preview_says_why(demo_lm):
    from core.workflows.editing import compute_edit

    outcome = compute_edit(demo_lm, [UK, CABO], "ft-m", overrides={"steps": 30}, preview_tokens=4)
    by_fact = {m.fact_id: m for m in outcome.post.facts}
    assert len(by_fact[UK.id].teacher_forced.locality) == 1  # Tajikistan only
    assert by_fact[CABO.id].summary().get("locality") is None  # its one locality prompt is the UK's edit
    assert len(by_fact[UK.id].generation.locality) == 1
    kinds = {(p.fact_id, p.prompt): p.kind for p in outcome.previews}
    assert kinds[UK.id, "The capital of Cabo Verde is"] == BATCH_KIND
    assert kinds[UK.id, "The capital of Tajikistan is"] == "locality"


def test_sequential_edits_leave_them_out_too_after_each_step_and_at_the_end(demo_lm):
    """Consecutive edits: the UK's locality prompt about Cabo Verde's capital is Cabo Verde's own
    edit, a step later; neither the step's figures nor the retention pass count it."""
    from core.workflows.runs import run_sequential

    report = run_sequential(demo_lm, [UK, CABO], "ft-m", overrides={"steps": 30})
    by_fact = {e["fact_id"]: e for e in report["edits"]}
    assert by_fact[CABO.id]["post"].get("locality") is None
    retained = {r["fact_id"]: r for r in report["retention"]["per_fact"]}
    assert retained[CABO.id].get("locality") is None
    assert retained[UK.id]["locality"] > 0.9, "Tajikistan alone: FT-M's default keeps it"


def test_another_question_about_the_subject_with_the_same_answer_stays_a_locality_prompt():
    """Review, stop 34: "The largest city in Germany is" → Berlin is no phrasing of Germany's
    capital; if an edit of the capital changes it, that is a side effect, and it must count."""
    germany = Fact(subject="Germany", prompt="The capital of Germany is", target_new="Bonn", target_true="Berlin")
    other = Fact(subject="France", prompt="The capital of France is", target_new="Lyon", target_true="Paris",
                 locality=(Probe("The largest city in Germany is", "Berlin"), Probe("Germany's capital is", "Berlin"),
                           Probe("The capital of Germany is", "Berlin")))
    # "Germany's capital is" asks the edited question another way (trial 39's "X's capital is")
    assert intended_locality([germany, other]) == {other.id: frozenset({1, 2})}
    assert intended_locality([other], by=[germany, other]) == {other.id: frozenset({1, 2})}, "checked against others"


@pytest.mark.parametrize(("subject", "prompt", "old", "probe"), [
    ("Germany", "The currency of Germany is the", "Euro", "The currency of Germany's neighbour Austria is the"),
    ("Germany", "The official language of Germany is", "German", "The official language of Austria, like that of "
                                                               "Germany, is"),
    ("Egypt", "The continent of Egypt is", "Africa", "The continent of Egypt's neighbour Libya is"),
    ("Brazil", "The capital of Brazil is", "Brasilia", "The capital of Brazil's Federal District is"),
    ("Djibouti", "The capital city of Djibouti is", "Djibouti", "Djibouti is a city in"),
    ("Serbia", "The capital of Serbia is", "Belgrade", "The capital of Serbia and Montenegro is"),
    ("Samoa", "Samoa is located in the continent of", "Oceania", "American Samoa is located in the continent of"),
    ("Republic of the Congo", "The currency of Republic of the Congo is the", "Franc",
     "The currency of Democratic Republic of the Congo is the"),
])
def test_other_questions_and_longer_names_stay_locality_prompts(subject, prompt, old, probe):
    """Second review, stop 34: each of these kept its old answer by chance, and an edit that changes
    it has a side effect; counting it as edited on purpose would hide that."""
    edit = Fact(subject=subject, prompt=prompt, target_new="Nowhere", target_true=old)
    other = Fact(subject="Peru", prompt="The capital of Peru is", target_new="Quito", target_true="Lima",
                 locality=(Probe(probe, old),))
    assert intended_locality([edit, other]) == {}


def test_a_thousand_facts_with_shared_old_answers():
    """Review, stop 34: a regex per subject and probe took 53 s here (speed: bench, not this test)."""
    facts = [Fact(subject=f"Subject {i}", prompt=f"Subject {i} speaks", target_new="French",
                  target_true=("English", "Spanish", "Arabic", "Hindi", "Russian")[i % 5],
                  locality=tuple(Probe(f"Subject {j} speaks", ("English", "Spanish")[j % 2]) for j in range(i, i + 10)))
             for i in range(1_000)]
    found = intended_locality(facts)
    assert found[facts[0].id] == frozenset(range(1, 10)), "the other subjects' own prompts"
    assert facts[999].id not in found, "Subject 1000 and on are nobody's edit"
