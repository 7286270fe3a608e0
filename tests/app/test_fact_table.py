"""The fact queue's table model and proxy: Qt's model tester, filter, search and sort."""

import pytest

from app.models.fact_table import FACT_ID_ROLE, FactFilterProxy, FactTableModel
from core.facts.fact import Fact
from core.ledger.records import FactRecord, RunRecord

pytestmark = pytest.mark.gui


def _record(subject, status, new="X"):
    fact = Fact(subject=subject, prompt=f"The capital of {subject} is", target_new=new, target_true="Y")
    return FactRecord(fact, status, "2026-01-01T00:00:00Z", "tester")


RECORDS = [_record("France", "pending"), _record("Spain", "approved"), _record("Peru", "rejected"),
           _record("Chile", "approved", "Lima")]


def _run(fact_ids, reliability):
    return RunRecord(1, tuple(fact_ids), "rome", {}, {}, 0, {}, {"post": {"reliability": reliability, "locality": 1.0}},
                     [], 1.0, "0" * 64, 10, "s", "tester", "now")


def test_models_pass_the_qt_model_tester(qtmodeltester):
    model = FactTableModel()
    model.set_facts(RECORDS, [_run([RECORDS[1].id], 0.5)])
    qtmodeltester.check(model, force_py=True)
    proxy = FactFilterProxy()
    proxy.setSourceModel(model)
    proxy.set_status("approved")
    qtmodeltester.check(proxy, force_py=True)


def test_columns_show_status_fact_and_latest_run_metrics():
    model = FactTableModel()
    model.set_facts(RECORDS, [_run([RECORDS[1].id], 0.5), _run([RECORDS[1].id], 0.75)])
    assert model.index(1, 0).data() == "approved"
    assert model.index(1, 1).data() == "Spain"
    assert model.index(1, 5).data() == "rome"
    assert model.index(1, 6).data() == "0.75", "the latest run wins"
    assert model.index(0, 6).data() == ""
    assert model.index(2, 1).data(FACT_ID_ROLE) == RECORDS[2].id


def test_proxy_filters_by_status_and_search_and_sorts():
    model = FactTableModel()
    model.set_facts(RECORDS)
    proxy = FactFilterProxy()
    proxy.setSourceModel(model)
    proxy.set_status("approved")
    assert sorted(proxy.index(r, 1).data() for r in range(proxy.rowCount())) == ["Chile", "Spain"]
    proxy.set_search("lima")
    assert [proxy.index(r, 1).data() for r in range(proxy.rowCount())] == ["Chile"]
    proxy.set_status("")
    proxy.set_search("")
    proxy.sort(1)
    assert [proxy.index(r, 1).data() for r in range(proxy.rowCount())] == ["Chile", "France", "Peru", "Spain"]


def test_a_committed_fact_reads_committed_and_a_later_decision_stays_beside_it():
    """"approved · committed" widened the Status column past the answers (trial 36)."""
    import dataclasses

    model = FactTableModel()
    committed = dataclasses.replace(_record("Spain", "approved"), committed=True)
    rejected_later = dataclasses.replace(_record("Peru", "rejected"), committed=True)
    model.set_facts([committed, rejected_later, _record("Chile", "approved")])
    assert [model.index(row, 0).data() for row in range(3)] == ["committed", "rejected · committed", "approved"]


def test_a_batch_runs_row_shows_each_facts_own_figures():
    """Trial 36: a batch run's rows all showed the batch's mean locality (0.75 for a fact whose own was 0.62)."""
    run = _run([RECORDS[0].id, RECORDS[1].id], 0.5)
    checks = [{"fact_id": RECORDS[0].id, "checks": [{"metric": "reliability", "value": 1.0},
                                                    {"metric": "locality", "value": 0.62}]},
              {"fact_id": RECORDS[1].id, "checks": [{"metric": "reliability", "value": 0.9},
                                                    {"metric": "locality", "value": None}]}]
    run.metrics["verdict"] = {"verdict": "side effects", "facts": checks}
    model = FactTableModel()
    model.set_facts(RECORDS[:2], [run])
    assert [model.index(0, c).data() for c in (6, 7)] == ["1.00", "0.62"]
    assert [model.index(1, c).data() for c in (6, 7)] == ["0.90", ""], "not measured for this fact: no figure"


def test_an_approved_edit_that_did_not_wholly_take_is_marked_and_says_why_in_its_tip():
    """Trial 45: an approved "partial: generality 0.50" edit read as Reliability 1.00 and
    Locality 1.00 in the queue, nothing else."""
    from PySide6.QtCore import Qt

    from app.models.fact_table import VERDICT_MARK

    spain, chile = RECORDS[1], RECORDS[3]
    partial = _run([spain.id], 1.0)
    partial.metrics["verdict"] = {"verdict": "partial", "facts": [{"fact_id": spain.id, "verdict": "partial"}]}
    took = _run([chile.id], 1.0)
    took.metrics["verdict"] = {"verdict": "took", "facts": [{"fact_id": chile.id, "verdict": "took"}]}
    model = FactTableModel()
    model.set_facts(RECORDS, [partial, took])
    assert model.index(1, 0).data() == "approved" + VERDICT_MARK
    assert "verdict (run 1): partial" in model.index(1, 0).data(Qt.ItemDataRole.ToolTipRole)
    assert model.index(3, 0).data() == "approved"
    assert model.index(0, 0).data() == "pending", "a pending fact's verdict shows when it is selected"


def test_a_took_with_nothing_checked_for_side_effects_is_amber_not_green():
    """Trial 47: a fact with no paraphrases or locality prompts "took" in green, in the queue and
    the preview, though nobody checked what else the edit changed."""
    from PySide6.QtCore import Qt

    from app.advice import UNCHECKED_COLOUR, VERDICT_COLOURS, verdict_colour
    from app.models.fact_table import STATUS_COLOURS, VERDICT_MARK

    chile = RECORDS[3]
    checks = [{"metric": "reliability", "value": 1.0, "bound": 0.95, "held": True},
              {"metric": "generality", "value": None, "bound": 0.8, "held": None},
              {"metric": "locality", "value": None, "bound": 0.9, "held": None}]
    unchecked = {"fact_id": chile.id, "verdict": "took", "checks": checks}
    run = _run([chile.id], 1.0)
    run.metrics["verdict"] = {"verdict": "took", "facts": [unchecked]}
    model = FactTableModel()
    model.set_facts(RECORDS, [run])
    assert model.index(3, 0).data() == "approved" + VERDICT_MARK
    assert model.index(3, 0).data(Qt.ItemDataRole.ForegroundRole) == STATUS_COLOURS["needs-rework"]
    tip = model.index(3, 0).data(Qt.ItemDataRole.ToolTipRole)
    assert "took, but generality and locality not measured" in tip, tip
    assert verdict_colour(run.metrics["verdict"]) == UNCHECKED_COLOUR
    checked = {"verdict": "took", "facts": [{**unchecked, "checks": [{**c, "value": 1.0, "held": True}
                                                                    for c in checks]}]}
    assert verdict_colour(checked) == VERDICT_COLOURS["took"]
