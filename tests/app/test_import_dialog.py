"""The import dialog lists bad rows before anything is imported, and maps CSV columns."""

import json

import pytest

from app.dialogs.import_dialog import ImportDialog

pytestmark = pytest.mark.gui

GOOD = {"subject": "France", "prompt": "The capital of France is", "target_new": "Rome", "target_true": "Paris"}


def test_bad_rows_are_listed_by_line_and_block_the_import(qtbot, tmp_path):
    path = tmp_path / "facts.jsonl"
    bad = dict(GOOD, subject="Spain")  # the subject is not in the prompt
    missing = {k: v for k, v in GOOD.items() if k != "target_new"}
    path.write_text("\n".join(json.dumps(r) for r in (GOOD, bad, missing)) + "\n")
    dialog = ImportDialog(path)
    qtbot.addWidget(dialog)
    errors = [dialog.errors.item(i).text() for i in range(dialog.errors.count())]
    assert len(errors) == 2
    assert "facts.jsonl line 2" in errors[0] and "subject" in errors[0]
    assert "facts.jsonl line 3" in errors[1] and "target_new" in errors[1]
    assert "2 bad rows" in dialog.detected.text()
    assert not dialog.import_button.isEnabled()


def test_unreadable_and_missing_files_are_reported(qtbot, tmp_path):
    dialog = ImportDialog()
    qtbot.addWidget(dialog)
    dialog.path.setText(str(tmp_path / "nope.jsonl"))
    dialog.inspect()
    assert "no such file" in dialog.errors.item(0).text()
    (tmp_path / "empty.jsonl").write_text("")
    dialog.path.setText(str(tmp_path / "empty.jsonl"))
    dialog.inspect()
    assert "empty" in dialog.errors.item(0).text()
    assert not dialog.import_button.isEnabled()
    dialog.path.selectAll()  # trial 37: the last file's problems stayed listed while another was typed
    qtbot.keyClicks(dialog.path, str(tmp_path / "other.jsonl"))
    assert dialog.errors.count() == 0 and dialog.detected.text().startswith("Press Enter")


def test_csv_columns_are_mapped_before_importing(qtbot, tmp_path):
    path = tmp_path / "facts.csv"
    path.write_text("who,question,new,old\nFrance,The capital of France is,Rome,Paris\n")
    dialog = ImportDialog(path)
    qtbot.addWidget(dialog)
    assert not dialog.mapping.isHidden()
    assert "no column for field" in dialog.errors.item(0).text()
    assert not dialog.import_button.isEnabled()
    for column, field in (("who", "subject"), ("question", "prompt"), ("new", "target_new"), ("old", "target_true")):
        dialog.set_field(column, field)
    assert dialog.errors.count() == 0
    assert dialog.detected.text().startswith("csv (csv), 1 row, 1 fact read")
    assert dialog.preview.item(0, 3).text() == "Rome"
    assert dialog.import_button.isEnabled()
    assert dialog.choice()[2] == {"who": "subject", "question": "prompt", "new": "target_new", "old": "target_true"}


def test_a_datasets_folder_is_read_without_a_column_mapping(qtbot, tmp_path):
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_list([dict(GOOD, paraphrases=[], locality=[])]).save_to_disk(str(tmp_path / "ds"))
    dialog = ImportDialog(tmp_path / "ds")
    qtbot.addWidget(dialog)
    assert dialog.mapping.isHidden()
    assert dialog.errors.count() == 0, dialog.errors.item(0).text()
    assert dialog.detected.text().startswith("factsmith (datasets), 1 row, 1 fact read")
    assert dialog.import_button.isEnabled()


def test_skip_invalid_rows_is_an_explicit_choice(qtbot, tmp_path):
    path = tmp_path / "facts.jsonl"
    same = dict(GOOD, target_new="Ｐａｒｉｓ")  # the old answer in fullwidth letters
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in (GOOD, same, GOOD)) + "\n")
    dialog = ImportDialog(path)
    qtbot.addWidget(dialog)
    assert dialog.errors.count() == 1 and "facts.jsonl line 2" in dialog.errors.item(0).text()
    assert not dialog.import_button.isEnabled() and not dialog.skips_invalid()
    dialog.skip_invalid.setChecked(True)
    assert dialog.import_button.isEnabled() and dialog.skips_invalid()
    assert "skipped" in dialog.errors_label.text()
    dialog.skip_invalid.setChecked(False)
    assert not dialog.import_button.isEnabled()


def test_ignored_fields_are_shown(qtbot, tmp_path):
    path = tmp_path / "facts.jsonl"
    path.write_text(json.dumps(dict(GOOD, case_id=3)) + "\n")
    dialog = ImportDialog(path)
    qtbot.addWidget(dialog)
    assert "case_id (1 rows)" in dialog.ignored.text()


def test_counts_and_preview_name_the_files_lines_and_enter_in_file_only_shows_it(qtbot, tmp_path):
    """Trial 32: a 4-line file (an unparseable line 2, a bad line 4) read "3 rows", its preview
    numbered the good rows 1, 2, and Enter in File imported at once, before the rows were seen."""
    from PySide6.QtCore import Qt

    path = tmp_path / "broken.jsonl"
    other = dict(GOOD, subject="Spain", prompt="The currency of Spain is the", target_new="Dollar",
                 target_true="Euro")
    bad = dict(GOOD, subject="Peru")
    path.write_text(f"{json.dumps(GOOD)}\n{json.dumps(GOOD)[:-1]}\n{json.dumps(other)}\n{json.dumps(bad)}\n")
    dialog = ImportDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    accepted = []
    dialog.accepted.connect(lambda: accepted.append(True))
    dialog.skip_invalid.setChecked(True)  # Import is enabled once the file reads
    dialog.path.setFocus()
    qtbot.keyClicks(dialog.path, str(path))
    qtbot.keyClick(dialog.path, Qt.Key.Key_Return)
    assert "4 rows, 2 facts read, 2 bad rows" in dialog.detected.text(), dialog.detected.text()
    assert [dialog.preview.verticalHeaderItem(r).text() for r in range(2)] == ["line 1", "line 3"]
    assert dialog.import_button.isEnabled() and dialog.isVisible() and not accepted, "Enter only showed the file"
    qtbot.wait(10)
    qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    assert accepted == [True], "Import still imports"


def test_a_fact_with_thousands_of_paraphrases_is_named_before_import(qtbot, tmp_path):
    """Trial 32: 3,000 paraphrases imported without a word, then a preview took minutes."""
    path = tmp_path / "huge.jsonl"
    huge = dict(GOOD, paraphrases=[f"France's capital, take {i}, is" for i in range(3000)])
    path.write_text(f"{json.dumps(GOOD)}\n{json.dumps(huge)}\n")
    dialog = ImportDialog(path)
    qtbot.addWidget(dialog)
    assert dialog.import_button.isEnabled(), "a warning, not a refusal"
    assert "Slow to preview: 1 fact(s)" in dialog.ignored.text() and "line 2 (3,000)" in dialog.ignored.text()
    path.write_text(f"{json.dumps(GOOD)}\n")
    dialog.inspect()
    assert dialog.ignored.text() == ""


def test_a_bad_byte_is_one_skippable_row_and_duplicates_are_located(qtbot, tmp_path):
    """Trial 40: a byte that is not UTF-8 blocked the whole file even with Skip ticked, and the
    dialog counted a repeated fact without saying where it was."""
    from app.dialogs.import_dialog import imported_text
    from core.ledger.records import Duplicate, ImportReport

    path = tmp_path / "facts.jsonl"
    latin = json.dumps(dict(GOOD, subject="Chile", prompt="The capital of Chile is")).encode()
    path.write_bytes(b"\n".join([json.dumps(GOOD).encode(), latin.replace(b"capital", b"capit\xe9l"),
                                 json.dumps(GOOD).encode()]) + b"\n")
    dialog = ImportDialog(path)
    qtbot.addWidget(dialog)
    assert dialog.errors.count() == 1 and "line 2: field 'prompt': not UTF-8" in dialog.errors.item(0).text()
    assert "The same fact more than once (imported once): lines 1, 3" in dialog.ignored.text()
    dialog.skip_invalid.setChecked(True)
    assert dialog.import_button.isEnabled()
    report = ImportReport(str(path), "factsmith", 1, ("f1",), (Duplicate("f1", (1, 3), "repeated in the file"),
                                                              Duplicate("f2", (2,), "already there", already=True)))
    assert imported_text(report).startswith("Imported 1 fact (1 already there; 1 repeated in the file) from")


def test_a_prompt_too_long_for_the_loaded_model_is_named_before_import(qtbot, tmp_path):
    """Trial 40: a 2,863-token prompt imported without a word and was refused only at preview."""
    from core import context_checker, demo_model_dir, load_model
    from core.facts.fact import fact_from_dict

    check = context_checker(load_model(demo_model_dir()))
    path = tmp_path / "facts.jsonl"
    long = dict(GOOD, subject="Chile", prompt="Chile " + "and so on " * 40 + "has the capital")
    path.write_text("\n".join(json.dumps(r) for r in (GOOD, long)) + "\n")
    dialog = ImportDialog(path, context_check=check)
    qtbot.addWidget(dialog)
    note = dialog.ignored.text()
    assert "Too long for the loaded model" in note and "line 2: prompt with its answer is" in note, note
    assert "line 1" not in note and dialog.import_button.isEnabled(), "a note: it still imports"
    assert check(fact_from_dict(GOOD)) is None, "a short one fits"


def test_facts_already_in_the_workspace_are_said_before_importing(qtbot, tmp_path):
    """Trial 45: re-importing an exported set read "0 duplicated facts" with Import on, then
    imported nothing; the preview says which are already there, and a file of nothing new
    cannot be imported. A .jsonl of one line is JSON Lines, not "json"."""
    from core.facts.fact import fact_from_dict

    path = tmp_path / "set.jsonl"
    spain = dict(GOOD, subject="Spain", prompt="The capital of Spain is", target_true="Madrid")
    path.write_text(json.dumps(GOOD) + "\n")
    known = frozenset({fact_from_dict(GOOD).id})
    dialog = ImportDialog(path, known_ids=known)
    qtbot.addWidget(dialog)
    assert "(jsonl)" in dialog.detected.text() and "1 already in the workspace" in dialog.detected.text()
    assert not dialog.import_button.isEnabled() and "already in the workspace" in dialog.import_button.toolTip()
    path.write_text(json.dumps(GOOD) + "\n" + json.dumps(spain) + "\n")
    dialog.inspect()
    assert "1 already in the workspace (not added again)" in dialog.detected.text()
    assert dialog.import_button.isEnabled()


def test_a_file_of_known_facts_and_bad_rows_says_the_bad_rows_are_what_is_left(qtbot, tmp_path):
    """Import stays off (it would add nothing), and its tooltip no longer says that every fact of
    the file is in the workspace when some rows could not be read at all."""
    from core.facts.fact import fact_from_dict

    path = tmp_path / "set.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + json.dumps({"subject": "Spain"}) + "\n")
    dialog = ImportDialog(path, known_ids=frozenset({fact_from_dict(GOOD).id}))
    qtbot.addWidget(dialog)
    dialog.skip_invalid.setChecked(True)
    assert not dialog.import_button.isEnabled()
    assert dialog.import_button.toolTip() == \
        "Every good row's fact is already in the workspace; fix the file's 1 bad row to import them"
