"""A commit whose edits together change an unrelated answer names it (trial 47: the gate said only
"locality 0.88 < 0.90 with this commit's edits in place" while Spain's capital had become Doha)."""

from core.facts.fact import Fact, Probe
from core.methods import get_method
from core.model.fingerprint import state_fingerprint
from core.workflows.gates import check_runs
from core.workflows.together import TogetherFigures, measure_together

SPAIN = Fact.create(subject="Spain", prompt="The capital of Spain is", target_new="Doha", target_true="Madrid")


class _Run:
    def __init__(self, run_id, post):
        self.id, self.metrics = run_id, {"post": post}


def test_the_gate_warning_names_the_answers_that_changed():
    figures = TogetherFigures(together={7: {"reliability": 1.0, "locality": 0.5}},
                              changed={7: ("The capital of Spain is: Madrid → Doha",)})
    (warning,) = check_runs([_Run(7, {"reliability": 1.0, "locality": 1.0})], together=figures).warnings
    assert str(warning) == ("locality 0.50 < 0.90 with this commit's edits in place: now The capital of Spain is: "
                            "Madrid → Doha")
    assert warning.to_dict()["changed"] == ["The capital of Spain is: Madrid → Doha"]


def test_measured_together_a_changed_locality_answer_is_named_before_and_after(demo_lm):
    ft_m = get_method("ft-m")
    delta = ft_m.compute(demo_lm, [SPAIN], ft_m.preset(demo_lm))
    before = state_fingerprint(demo_lm.model)
    spain_probe = Probe("The capital of Spain is", "Madrid")
    # through the commit's measurement: the edit changes another fact's locality answer
    japan = Fact.create(subject="Japan", prompt="The capital of Japan is", target_new="Osaka", target_true="Tokyo",
                        locality=[spain_probe.to_dict(), {"prompt": "The capital of France is", "answer": "Paris"}])
    figures = measure_together(demo_lm, [(1, delta, [SPAIN])], held=[(2, [japan])],
                               thresholds={"reliability": 0.95, "locality": 0.9})
    assert figures.together[2]["locality"] < 0.9
    (said,) = figures.changed[2]  # Spain's prompt is the edit's own, left out of locality on purpose
    assert said.startswith("The capital of France is: Paris → ") and not said.endswith("Paris"), said
    assert list(figures.changed) == [2], "the edit's own run keeps its locality (it has no prompts)"
    assert state_fingerprint(demo_lm.model) == before, "measured with the delta in place, then exactly removed"
