"""The verdict's fluency check judges repetition, not length (audit of 2026-12-06): every method's
correct edit of Costa Rica's currency read "side effects: fluency 305.66 < 319.94" because the
new answer ended the sentence sooner than the old wrong one."""

import pytest

from core.metrics.fluency import diversity, fluency
from core.workflows.verdict import SIDE_EFFECTS, TOOK, fact_verdict

LONG = "Shops in Costa Rica take payment in the country of Pakistan."
SHORT = "Shops in Costa Rica take payment in the Euro."
LOOP = "Shops in Costa Rica take payment in the Euro Euro Euro Euro Euro Euro Euro Euro."


def test_diversity_ignores_length_and_falls_with_repetition():
    assert fluency(SHORT) < 0.95 * fluency(LONG), "raw fluency: the shorter sentence reads as damage"
    assert diversity(SHORT) == pytest.approx(1.0) and diversity(LONG) == pytest.approx(1.0)
    assert diversity(LOOP) < 0.9
    assert diversity("Euro.") is None  # under three words: nothing to tell


def test_the_verdict_judges_fluency_by_diversity_where_measured():
    took = {"reliability": 1.0, "generality": 1.0, "locality": 1.0}
    pre = {**took, "reliability": 0.0, "fluency": fluency(LONG), "fluency.diversity": diversity(LONG)}
    shorter = fact_verdict("f", pre, {**took, "fluency": fluency(SHORT), "fluency.diversity": diversity(SHORT)})
    assert shorter.verdict == TOOK
    looping = fact_verdict("f", pre, {**took, "fluency": fluency(LOOP), "fluency.diversity": diversity(LOOP)})
    assert looping.verdict == SIDE_EFFECTS and str(looping.checks[3]).startswith("fluency.diversity 0.")
    stored = fact_verdict("f", {"fluency": fluency(LONG)}, {**took, "fluency": fluency(SHORT)})
    assert stored.checks[3].metric == "fluency", "a run stored before diversity is judged as it was"


def test_a_post_text_too_short_for_diversity_is_not_measured_rather_than_judged_on_length():
    took = {"reliability": 1.0, "generality": 1.0, "locality": 1.0}
    pre = {"fluency": fluency(LONG), "fluency.diversity": diversity(LONG)}
    short = fact_verdict("f", pre, {**took, "fluency": fluency("Euro.")})  # under three words: no diversity
    assert short.checks[3].held is None and short.verdict == TOOK
