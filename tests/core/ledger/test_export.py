"""Export of reviewed facts with status, the reviewer's note and who decided."""

import csv
import json

import pytest

from core.facts.io import read_facts
from core.ledger import LedgerError
from tests.core.ledger.helpers import make_facts


@pytest.fixture
def reviewed(workspace):
    facts = make_facts(4)
    workspace.add_facts(facts)
    workspace.review(facts[0].id, "approve", note="checked the atlas")
    workspace.review(facts[1].id, "approve")
    workspace.review(facts[2].id, "reject", note="not a capital")
    return workspace, facts


def test_jsonl_round_trips_with_review_columns(reviewed, tmp_path):
    ws, facts = reviewed
    report = ws.export(tmp_path / "out.jsonl")
    assert report.count == 2 and report.statuses == ("approved",)
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [(r["status"], r["note"], r["reviewer"]) for r in rows] == \
        [("approved", "checked the atlas", "alice"), ("approved", "", "alice")]
    assert read_facts(tmp_path / "out.jsonl") == facts[:2]


def test_status_filter_and_all(reviewed, tmp_path):
    ws, _ = reviewed
    assert ws.export(tmp_path / "r.jsonl", statuses=["rejected"]).count == 1
    assert ws.export(tmp_path / "all.jsonl", statuses=None).count == 4
    pending = json.loads((tmp_path / "all.jsonl").read_text().splitlines()[3])
    assert (pending["status"], pending["reviewer"]) == ("pending", "")


def test_easyedit_json(reviewed, tmp_path):
    ws, facts = reviewed
    ws.export(tmp_path / "out.json", "easyedit", ["rejected"])
    (row,) = json.loads((tmp_path / "out.json").read_text())
    assert (row["prompt"], row["ground_truth"], row["note"], row["status"]) == \
        (facts[2].prompt, facts[2].target_true, "not a capital", "rejected")


def test_csv(reviewed, tmp_path):
    ws, facts = reviewed
    ws.export(tmp_path / "out.csv", "csv")
    rows = list(csv.DictReader((tmp_path / "out.csv").open()))
    assert [(r["subject"], r["note"], r["reviewer"]) for r in rows] == \
        [(facts[0].subject, "checked the atlas", "alice"), (facts[1].subject, "", "alice")]
    assert read_facts(tmp_path / "out.csv") == facts[:2]


def test_bad_format_and_status(reviewed, tmp_path):
    ws, _ = reviewed
    with pytest.raises(LedgerError, match=r"unknown export format 'xml'"):
        ws.export(tmp_path / "x", "xml")
    with pytest.raises(LedgerError, match=r"unknown status 'done'"):
        ws.export(tmp_path / "x", statuses=["done"])


def test_an_unwritable_place_is_said_plainly(reviewed, tmp_path):
    """Trial 42: the Export dialog said "[Errno 2] No such file or directory: '/proc/nope'"."""
    ws, _ = reviewed
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    for fmt in ("jsonl", "csv"):
        with pytest.raises(LedgerError, match=r"^cannot write .*a-file/edits\.\w+: .*; choose a folder you can "
                                              r"write to$") as refused:
            ws.export(blocker / f"edits.{fmt}", fmt)
        assert "Errno" not in str(refused.value)


def test_an_approved_fact_whose_edit_was_reverted_is_left_out_unless_asked(workspace, tmp_path):
    """Trial 34: the approved set held a fact whose commit had been reverted, and replaying the
    set brought the undone edit back."""
    from core.model.loading import LoadOptions
    from tests.core.ledger.helpers import add_run_approve

    kept, undone = make_facts(2)
    add_run_approve(workspace, [kept])
    add_run_approve(workspace, [undone])
    workspace.commit("both")
    workspace.revert([undone.id], "wrong answer", options=LoadOptions(device="cpu"))
    report = workspace.export(tmp_path / "approved.jsonl")
    assert (report.count, report.reverted_left_out) == (1, 1)
    assert read_facts(tmp_path / "approved.jsonl") == [kept]
    everything = workspace.export(tmp_path / "all.jsonl", include_reverted=True)
    assert (everything.count, everything.reverted_left_out) == (2, 0)
    rows = [json.loads(line) for line in (tmp_path / "all.jsonl").read_text().splitlines()]
    assert rows[1]["reverted_in"] == workspace.head().id


def test_a_fact_rejected_after_its_revert_is_an_ordinary_rejected_fact(workspace, tmp_path):
    from core.model.loading import LoadOptions
    from tests.core.ledger.helpers import add_run_approve

    (fact,) = make_facts(1)
    add_run_approve(workspace, [fact])
    workspace.commit("one")
    workspace.revert([fact.id], "wrong answer", options=LoadOptions(device="cpu"))
    workspace.review(fact.id, "reject", note="not a capital after all")
    report = workspace.export(tmp_path / "rejected.jsonl", statuses=["rejected"])
    assert (report.count, report.reverted_left_out) == (1, 0)


def test_every_status_ticked_is_every_fact_reverted_ones_included(workspace, tmp_path):
    """Trial 35: with all four statuses ticked in the export dialog the reverted fact stayed out,
    while none ticked (the same "every fact") kept it."""
    from core.ledger import STATUSES
    from core.model.loading import LoadOptions
    from tests.core.ledger.helpers import add_run_approve

    (fact,) = make_facts(1)
    add_run_approve(workspace, [fact])
    workspace.commit("one")
    workspace.revert([fact.id], "wrong answer", options=LoadOptions(device="cpu"))
    assert workspace.export(tmp_path / "all.jsonl", statuses=list(STATUSES)).count == 1
    assert workspace.export(tmp_path / "approved.jsonl").count == 0
