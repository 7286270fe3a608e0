"""Importing a real benchmark with some bad rows: all or nothing by default, or, on request,
the valid rows with the others recorded (line and reason) in the import's record."""

import json

import pytest

from core.cli import main
from core.facts.io import FactsFileError
from tests.core.test_bad_input import sample


def zsre_file(path, rows=1000, bad_every=50):
    """A MEND-style zsRE file whose every ``bad_every``-th row has alt equal to the old answer."""
    lines = []
    for i in range(rows):
        row = dict(sample("zsre"), subject=f"Watts Humphrey {i}", src=f"What university did Watts Humphrey {i} attend?")
        if i % bad_every == 7:
            row["alt"] = row["answers"][0]
        lines.append(json.dumps(row) + "\n")
    path.write_text("".join(lines))
    return path


def test_default_refuses_the_whole_file(workspace, tmp_path):
    with pytest.raises(FactsFileError) as err:
        workspace.import_file(zsre_file(tmp_path / "zsre.jsonl"))
    assert "line 8" in str(err.value) and err.value.more_count == 19
    assert workspace.queue() == []


def test_skip_invalid_imports_the_good_rows_and_records_the_bad(workspace, tmp_path):
    report = workspace.import_file(zsre_file(tmp_path / "zsre.jsonl"), skip_invalid=True)
    assert len(report.added) == 980 and len(report.skipped) == 20
    assert [s.line for s in report.skipped[:2]] == [8, 58]
    assert report.skipped[0].field == "alt" and "same as the old answer" in report.skipped[0].reason
    assert workspace.skipped_rows(report.import_id) == list(report.skipped)
    row = workspace._store.one("SELECT skipped, ignored FROM imports WHERE id = ?", (report.import_id,))
    assert row["skipped"] == 20 and json.loads(row["ignored"]) == []
    with pytest.raises(Exception, match="append-only"):
        workspace._store.db.execute("DELETE FROM import_skipped")


def test_skip_invalid_with_no_valid_row_imports_nothing(workspace, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"subject": "x", "prompt": "y", "target_new": "z"}) + "\n")
    with pytest.raises(FactsFileError):
        workspace.import_file(path, skip_invalid=True)


def test_cli_skip_invalid_lists_skipped_rows_and_ignored_fields(workspace, tmp_path, capsys):
    path, rows = tmp_path / "cf.jsonl", [sample("counterfact"), dict(sample("counterfact"), requested_rewrite=0)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ws = str(workspace.path)
    workspace.close()
    assert main(["import", str(path), "--workspace", ws]) == 2
    assert "cf.jsonl line 2" in capsys.readouterr().err
    assert main(["import", str(path), "--workspace", ws, "--skip-invalid"]) == 0
    out = capsys.readouterr().out
    assert "imported 1 fact(s)" in out and "skipped 1 invalid row(s)" in out
    assert "line 2: field 'requested_rewrite'" in out
    assert "ignored field 'attribute_prompts' (2 row(s))" in out
