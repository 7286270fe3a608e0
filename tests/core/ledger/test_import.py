"""Importing into the queue: all rows or none, duplicates and conflicts reported, rows named."""

import csv
import json

import pytest

from core.facts.io import FactsFileError
from core.ledger import ImportConflictError
from tests.core.ledger.helpers import add_run_approve, make_fact, make_facts


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_jsonl_imports_as_pending_with_history(workspace, tmp_path):
    facts = make_facts(3)
    report = workspace.import_file(write_jsonl(tmp_path / "f.jsonl", [f.to_dict() for f in facts]))
    assert report.added == tuple(f.id for f in facts)
    assert report.format == "factsmith" and report.import_id is not None
    queue = workspace.queue()
    assert [r.status for r in queue] == ["pending"] * 3
    assert [(h.from_status, h.to_status, h.note) for h in workspace.history(facts[0].id)] == \
        [(None, "pending", "added from f.jsonl")]
    row = workspace._store.one("SELECT * FROM imports WHERE id = ?", (report.import_id,))
    assert (row["added"], row["author"], len(row["sha256"])) == (3, "alice", 64)


def test_a_bad_row_imports_nothing_and_is_named(workspace, tmp_path):
    rows = [make_fact(i).to_dict() for i in range(4)]
    rows[2]["subject"] = "Nowhere"  # not in the prompt
    with pytest.raises(FactsFileError) as err:
        workspace.import_file(write_jsonl(tmp_path / "bad.jsonl", rows))
    assert "bad.jsonl line 3" in str(err.value) and "subject" in str(err.value)
    assert workspace.queue() == []


def test_duplicates_are_reported_not_added_twice(workspace, tmp_path):
    facts = make_facts(2)
    workspace.add_facts(facts[:1])
    rows = [facts[0].to_dict(), facts[1].to_dict(), facts[1].to_dict()]
    report = workspace.import_file(write_jsonl(tmp_path / "dup.jsonl", rows))
    assert report.added == (facts[1].id,)
    reasons = {d.fact_id: (d.lines, d.reason) for d in report.duplicates}
    assert reasons[facts[0].id] == ((1,), "already in the workspace (pending)")
    assert reasons[facts[1].id] == ((2, 3), "repeated in the file; added once")
    assert len(workspace.queue()) == 2


def test_conflict_with_an_approved_fact_refuses_the_whole_file(workspace, tmp_path):
    add_run_approve(workspace, [make_fact(1)])
    rows = [make_fact(5).to_dict(), make_fact(1, target="Elsewhere").to_dict()]
    with pytest.raises(ImportConflictError) as err:
        workspace.import_file(write_jsonl(tmp_path / "c.jsonl", rows))
    assert "c.jsonl line 2" in str(err.value) and "approved fact" in str(err.value)
    assert len(err.value.conflicts) == 1
    assert len(workspace.queue()) == 1  # not even the good row


def test_conflict_with_a_committed_fact_is_reported_when_allowed(workspace, tmp_path):
    add_run_approve(workspace, [make_fact(1)])
    workspace.commit("one")
    report = workspace.import_file(write_jsonl(tmp_path / "c.jsonl", [make_fact(1, target="Elsewhere").to_dict()]),
                                   allow_conflicts=True)
    assert len(report.added) == 1 and report.conflicts[0].committed
    assert report.conflicts[0].other_target == "City1"


def test_same_prompt_and_target_is_no_conflict(workspace, tmp_path):
    add_run_approve(workspace, [make_fact(1)])
    variant = dict(make_fact(1).to_dict(), paraphrases=["Country1's capital is"])
    report = workspace.import_file(write_jsonl(tmp_path / "v.jsonl", [variant]))
    assert len(report.added) == 1 and report.conflicts == ()


def test_csv_with_a_column_mapping(workspace, tmp_path):
    path = tmp_path / "facts.csv"
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["who", "question", "answer"])
        writer.writerow(["Country7", "The capital of Country7 is", "City7"])
    report = workspace.import_file(path, mapping=["who=subject", "question=prompt", "answer=target_new"])
    assert report.format == "csv" and workspace.fact(report.added[0]).fact.subject == "Country7"


def test_datasets_folder(workspace, tmp_path):
    from datasets import Dataset

    Dataset.from_list([make_fact(i).to_dict() for i in range(3)]).save_to_disk(str(tmp_path / "ds"))
    report = workspace.import_file(tmp_path / "ds")
    assert len(report.added) == 3


def test_typed_facts_are_added_too(workspace):
    report = workspace.add_facts([make_fact(9)])
    assert report.format == "api" and workspace.history(report.added[0])[0].note == "added"
