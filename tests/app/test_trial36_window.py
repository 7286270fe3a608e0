"""Leftovers of new-user trials 34-35 at the sizes people use: the fact queue showed its Old and
New answer columns only after a sideways scroll, a committed fact's "approved · committed"
widened the Status column past them again, and at 1024×640 the generations table left After
out of sight (the narrow pane now stacks each row: tests/app/test_generations_view.py)."""

import re

import pytest
from PySide6.QtWidgets import QApplication

from app.models.fact_table import COLUMNS
from app.widgets.history_panel import KIND
from core.util.paths import demo_edits_file
from tests.app.helpers import open_window, wait_job

pytestmark = pytest.mark.gui


def _right_edge(table, name: str) -> int:
    column = COLUMNS.index(name)
    return table.columnViewportPosition(column) + table.columnWidth(column)


@pytest.mark.parametrize("size", [(1366, 768), (1024, 640)])
def test_the_queue_shows_both_answers_without_a_sideways_scroll(qtbot, size):
    window = open_window(qtbot)
    wait_job(qtbot, window.import_facts(demo_edits_file()), 60_000)  # rows: a vertical scroll bar takes room
    window.resize(*size)
    QApplication.processEvents()
    table = window.queue.table
    assert table.verticalScrollBar().isVisible()
    assert table.horizontalScrollBar().value() == 0
    assert _right_edge(table, "New answer") <= table.viewport().width(), (size, table.viewport().width())
    assert _right_edge(table, "Method") > _right_edge(table, "Locality"), "Method, also in the preview, is last"
    window.close()


def test_a_width_the_user_sets_stands_across_restarts(qtbot):
    window = open_window(qtbot)
    window.resize(1366, 768)
    QApplication.processEvents()
    header = window.queue.table.horizontalHeader()
    window.queue.show_column(COLUMNS.index("Old answer"), False)  # hiding a column is no width of theirs
    assert window.queue._fit_prompt_on
    header.resizeSection(COLUMNS.index("Prompt"), 333)
    window.resize(1024, 640)
    QApplication.processEvents()
    assert header.sectionSize(COLUMNS.index("Prompt")) == 333
    window.close()
    again = open_window(qtbot)
    again.resize(1024, 640)
    QApplication.processEvents()
    assert again.queue.table.horizontalHeader().sectionSize(COLUMNS.index("Prompt")) == 333
    again.close()


def test_at_1024_the_model_column_narrows_before_it_would_hide(qtbot):
    """Trial 36: dragging the splitter to give the preview room hid the model and queue column at
    once: its least width (the Device/dtype/Ignore row, 417 px) was the width it had."""
    window = open_window(qtbot)
    window.resize(1024, 640)
    QApplication.processEvents()
    main = window.centralWidget()
    left = main.widget(0)
    assert not main.childrenCollapsible()
    assert left.minimumSizeHint().width() < main.sizes()[0] - 100, (left.minimumSizeHint(), main.sizes())
    window.close()


def _two_disagreeing_previews(qtbot, tmp_path, approve: bool):
    """The window with the two FT-M edits that disagree about Australia's capital imported and
    previewed (each takes alone), approved too when ``approve``."""
    import json

    from tests.app.helpers import click_preview, click_row
    from tests.core.ledger.test_commit_together import FACTS

    (tmp_path / "two.jsonl").write_text("".join(json.dumps(f.to_dict()) + "\n" for f in FACTS))
    window = open_window(qtbot)
    wait_job(qtbot, window.import_facts(tmp_path / "two.jsonl"), 60_000)
    window.method_panel.method.setCurrentText("ft-m")
    for row in (0, 1):
        click_row(qtbot, window, row)
        assert click_preview(qtbot, window).state.value == "done"
        if approve:
            window.review_selected("approve")
    return window


def _commit_anyway(qtbot, window):
    """Press Yes in the window's "Measured together, an edit no longer holds" box; the forced commit's job."""
    from PySide6.QtWidgets import QMessageBox

    from tests.app.helpers import new_job

    box = window.last_confirm
    assert box.windowTitle() == "Measured together, an edit no longer holds"
    assert "with this commit's edits in place" in box.text() and "--force" not in box.text()
    assert "(ft-m): Australia → Mosul" in box.text(), "trial 37: the edit that undid the other is named too"
    yes = box.button(QMessageBox.StandardButton.Yes)
    assert yes.text() == "Commit anyway"
    return new_job(qtbot, window, yes.click)


def test_edits_that_undo_each_other_are_caught_at_commit_and_may_be_forced(qtbot, tmp_path, monkeypatch):
    """Trial 36's worst finding: two edits that each took alone, committed together, and the
    record said 1.00 for one the other had undone. The commit now measures them together on
    HEAD; the reviewer is told which fell and may commit anyway, recorded as forced."""
    from core.ledger import Workspace

    window = _two_disagreeing_previews(qtbot, tmp_path, approve=True)
    measured = []
    original = Workspace.measure_together
    monkeypatch.setattr(Workspace, "measure_together", lambda *a, **k: measured.append(1) or original(*a, **k))
    job = wait_job(qtbot, window.commit("both capitals"))
    assert job.state.value == "failed" and len(window.session.ws.log()) == 1
    assert "reliability 0.80 < 0.95 with this commit's edits in place" in window.last_confirm.text()
    assert re.search(r"• run \d+ \([\w-]+: .+ → .+\): reliability 0\.80 < 0\.95 with this commit's edits in place",
                     window.last_confirm.text()), "trial 46: the edit that fell is named by its facts"
    assert window.job_status.label.text() == "Committing: refused", "trial 38: 'failed' beside the open box"
    assert _commit_anyway(qtbot, window).state.value == "done"
    assert "forced past the commit gate (recorded)" in window.message.text(), "trial 46"
    assert len(measured) == 1, "commit anyway reuses what the refused commit measured"
    head = window.session.ws.head()
    assert head.forced and head.gate["warnings"][0]["together"]
    tree = window.history.tree
    kind = tree.topLevelItem(0).text(KIND)
    assert kind == "commit · forced" and tree.fontMetrics().horizontalAdvance(kind) < tree.columnWidth(KIND), \
        "trial 37: the Kind column cut it to 'commit …'"
    window.history.select([head.id])  # History shows what the edit measures there, not its 1.00 alone
    shown = window.history.details.toPlainText()
    assert "0.800 †" in shown and "different from what the edit measured alone (run 1: reliability 1.000)" in shown
    window.close()


def test_a_commit_while_the_live_model_is_an_older_commit_builds_head_to_measure_on(qtbot, tmp_path):
    """The window's other commit path: the live model holds an older commit, so HEAD is built
    afresh, the edits measured together there (Mosul undoes the committed Sydney), and after the
    forced commit the live model holds exactly the new HEAD."""
    from core.model.fingerprint import state_fingerprint
    from core.model.loading import LoadOptions
    from tests.app.helpers import click_row

    window = _two_disagreeing_previews(qtbot, tmp_path, approve=False)
    click_row(qtbot, window, 0)
    window.review_selected("approve")
    assert wait_job(qtbot, window.commit("Sydney")).state.value == "done"
    root = window.session.ws.log()[-1]
    assert wait_job(qtbot, window.checkout(root.id, confirmed=True)).state.value == "done"
    assert window.session.live_commit.id == root.id
    click_row(qtbot, window, 1)
    window.review_selected("approve")
    assert wait_job(qtbot, window.commit("Mosul")).state.value == "failed"
    assert _commit_anyway(qtbot, window).state.value == "done"
    ws = window.session.ws
    assert window.session.live_commit.id == ws.head().id and ws.head().forced
    fresh = ws.checkout("HEAD", options=LoadOptions(device="cpu")).lm
    assert state_fingerprint(window.session.lm.model) == state_fingerprint(fresh.model)
    window.close()
