"""A figure measured together that is back at the edit's own is its own again (trial 46: History
marked "1.000 †, different from what the edit measured alone (locality 1.000)")."""

from core.ledger.figures import state_figures, store_figures
from core.ledger.runs import runs_by_id
from tests.core.ledger.helpers import make_facts


def _run_with_locality(ws, fact, locality: float):
    from tests.core.ledger.helpers import hand_delta

    ws.add_facts([fact])
    run = ws.record_run(facts=[fact], delta=hand_delta(fact), computed_on=ws.head().state_fingerprint,
                        metrics={"protocol": "teacher_forced", "post": {"reliability": 1.0, "locality": locality}},
                        previews={}, seconds=0.0, environment={})
    ws.review(fact.id, "approve")
    return run


def test_a_later_measurement_back_at_the_own_figure_is_not_marked(workspace):
    run = _run_with_locality(workspace, make_facts(1)[0], 1.0)
    first = workspace.commit("one")
    store = workspace._store
    with store.writing():
        store_figures(store, first.id, None, [run.id], {run.id: {"locality": 0.67}})
    fell = state_figures(store, first, [runs_by_id(store, [run.id])[run.id]])[run.id]
    assert fell.measured_at == {"locality": first.id} and fell.fell("locality")
    second = workspace.commit("two", [_run_with_locality(workspace, make_facts(1, start=1)[0], 1.0).id])
    with store.writing():
        store_figures(store, second.id, first, [run.id], {run.id: {"locality": 1.0}})
    back = state_figures(store, second, [runs_by_id(store, [run.id])[run.id]])[run.id]
    assert back.metrics["locality"] == 1.0 and back.measured_at == {} and not back.fell("locality")
