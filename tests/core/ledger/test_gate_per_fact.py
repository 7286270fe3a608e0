"""The commit gate checks each fact of a batch run, not only the run's means (trial 45: one
fact's locality 0.75 hid in a batch's mean of 0.92, so the gate passed it)."""

from __future__ import annotations

import dataclasses

import pytest

from core.ledger.errors import CommitRefused
from core.workflows.gates import check_runs
from tests.core.ledger.helpers import hand_delta, make_facts


def _checks(reliability: float, locality: float) -> list[dict]:
    return [{"metric": "reliability", "value": reliability, "bound": 0.95, "held": reliability >= 0.95},
            {"metric": "locality", "value": locality, "bound": 0.9, "held": locality >= 0.9}]


def _batch_metrics(facts, localities) -> dict:
    verdict = {"verdict": "side effects", "facts": [
        {"fact_id": f.id, "verdict": "took", "checks": _checks(1.0, loc), "label": f"{f.subject} → {f.target_new}"}
        for f, loc in zip(facts, localities, strict=True)]}
    mean = sum(localities) / len(localities)
    return {"protocol": "test-protocol", "pre": {"reliability": 0.0}, "post": {"reliability": 1.0, "locality": mean},
            "verdict": verdict}


class _Run:
    def __init__(self, run_id: int, metrics: dict) -> None:
        self.id, self.metrics = run_id, metrics


def test_a_fact_under_the_threshold_is_named_though_the_mean_passes():
    facts = make_facts(3)
    gate = check_runs([_Run(9, _batch_metrics(facts, [1.0, 0.75, 1.0]))])  # mean 0.92
    assert not gate.passed
    [warning] = gate.warnings
    assert (warning.metric, warning.value, warning.fact) == ("locality", 0.75, f"{facts[1].subject} → "
                                                                                f"{facts[1].target_new}")
    assert gate.describe() == f"run 9: locality 0.75 < 0.90 ({facts[1].subject} → {facts[1].target_new})"


def test_a_batch_whose_every_fact_passes_passes():
    assert check_runs([_Run(9, _batch_metrics(make_facts(3), [1.0, 0.95, 0.9]))]).passed


def test_a_one_fact_run_is_checked_on_its_figures_as_before():
    """Its stored warning has no fact label, so the commits' ids stay what they were."""
    fact = make_facts(1)[0]
    metrics = _batch_metrics([fact], [0.75])
    [warning] = check_runs([_Run(3, metrics)]).warnings
    assert warning.to_dict() == {"run": 3, "metric": "locality", "value": 0.75, "minimum": 0.9}


def test_the_workspace_refuses_the_batch_and_says_which_fact(workspace):
    facts = make_facts(3)
    workspace.add_facts(facts)
    delta = dataclasses.replace(hand_delta(facts[0], 7), fact_ids=tuple(f.id for f in facts))
    run = workspace.record_run(facts=facts, delta=delta, computed_on=workspace.head().state_fingerprint, hparams={},
                               seconds=0.01, metrics=_batch_metrics(facts, [1.0, 0.75, 1.0]), previews={},
                               environment={"device": "cpu", "dtype": "float32"})
    for fact in facts:
        workspace.review(fact.id, "approve")
    with pytest.raises(CommitRefused, match=rf"run {run.id}: locality 0\.75 < 0\.90 \({facts[1].subject} → "):
        workspace.commit("batch", [run.id], thresholds={"reliability": 0.95, "locality": 0.9})


def test_a_held_batch_with_a_fact_under_the_threshold_still_has_its_mean_watched():
    """Review: a committed batch with one fact under locality (its mean 0.92 passing) must not hide
    a later fall of its mean, measured with a new commit's edits in place."""
    from core.workflows.together import TogetherFigures

    held = _Run(1, _batch_metrics(make_facts(3), [0.75, 1.0, 1.0]))
    together = TogetherFigures(together={1: {"locality": 0.40}}, on_head={1: {"locality": 0.92}})
    [warning] = check_runs([], held=[held], together=together).warnings
    assert (warning.run_id, warning.metric, warning.value, warning.together) == (1, "locality", 0.40, True)


def test_a_large_batch_names_its_worst_facts_then_how_many_more():
    from core.workflows.gates import NAMED_FACTS

    facts = make_facts(NAMED_FACTS + 3)
    localities = [0.5 + 0.01 * i for i in range(len(facts))]
    warnings = check_runs([_Run(2, _batch_metrics(facts, localities))]).warnings
    assert len(warnings) == NAMED_FACTS + 1
    assert [w.value for w in warnings[:NAMED_FACTS]] == localities[:NAMED_FACTS], "the worst first"
    assert warnings[-1].fact == "and 3 more facts" and warnings[-1].value == localities[-1]


def test_a_batch_fact_with_no_locality_prompts_is_said_to_be_unmeasured(workspace):
    """The batch's mean locality exists (the other facts had prompts), so a check of the mean alone
    said nothing of the fact nobody measured; the dialog, the stored commit and the CLI say it."""
    from core.cli.ledger_render import render_commit
    from core.workflows.gates import unmeasured_metrics, unmeasured_text

    facts = make_facts(3)
    metrics = _batch_metrics(facts, [1.0, 1.0, 1.0])
    metrics["verdict"]["facts"][2]["checks"][1] |= {"value": None, "held": None}
    assert unmeasured_metrics(_Run(9, metrics), {"locality": 0.9}) == ["locality for 1 of 3 facts"]
    assert unmeasured_text(["locality for 1 of 3 facts"]) == \
        "locality not measured for 1 of 3 facts (no locality prompts)"
    assert unmeasured_metrics(_Run(9, metrics), {"reliability": 0.95}) == []

    workspace.add_facts(facts)
    delta = dataclasses.replace(hand_delta(facts[0], 7), fact_ids=tuple(f.id for f in facts))
    run = workspace.record_run(facts=facts, delta=delta, computed_on=workspace.head().state_fingerprint, hparams={},
                               seconds=0.01, metrics=metrics, previews={},
                               environment={"device": "cpu", "dtype": "float32"})
    for fact in facts:
        workspace.review(fact.id, "approve")
    workspace.commit("batch", [run.id], thresholds={"reliability": 0.95, "locality": 0.9})
    gate = workspace.head().gate
    assert gate["unmeasured"] == [{"run": run.id, "metric": "locality", "some": " for 1 of 3 facts"}]
    said = render_commit({"applied": [run.id], "message": "batch", "id": "0" * 12, "gate": gate})
    assert said.splitlines()[1] == \
        f"note: run {run.id}: locality not measured for 1 of 3 facts, so not checked by the gate"
