"""A fact approved on a batch run whose other fact was rejected can never be committed with
that run; the commit dialog said "no run — preview them", which was wrong. It now names
the run and the fact that blocks it."""

import pytest
from PySide6.QtCore import Qt

from app.models.fact_table import FACT_ID_ROLE
from core.util.paths import demo_edits_file
from tests.app.helpers import click_row, fast_rome, open_window, wait_job

pytestmark = pytest.mark.gui


def test_commit_dialog_names_the_rejected_fact_that_keeps_a_batch_run_out(qtbot):
    window = open_window(qtbot)
    wait_job(qtbot, window.import_facts(demo_edits_file()), 60_000)
    fast_rome(window)
    batch = [window.queue.proxy.index(row, 0).data(FACT_ID_ROLE) for row in (0, 1)]
    window.queue.select(batch)
    job = wait_job(qtbot, window.preview_selected())
    assert job.state.value == "done"
    run = window.preview_panel.run
    assert sorted(run.fact_ids) == sorted(batch)
    bar = window.review_bar
    first = click_row(qtbot, window, 0)
    qtbot.mouseClick(bar.buttons["approve"], Qt.MouseButton.LeftButton)
    assert window.ws.history(first)[-1].run_id == run.id
    second = click_row(qtbot, window, 1)
    bar.note.setText("wrong capital")
    qtbot.mouseClick(bar.buttons["reject"], Qt.MouseButton.LeftButton)
    assert window.ws.fact(second).status == "rejected"
    dialog = window.open_commit_dialog()
    qtbot.addWidget(dialog)
    text = dialog.left_out.text()
    assert dialog.left_out.isVisibleTo(dialog)
    assert f"approved on run {run.id}, which also edits" in text
    assert window.ws.fact(second).fact.subject in text and "(rejected)" in text
    assert window.ws.fact(first).fact.subject in text
    assert "no run" not in text, "the fact has a run; only that run cannot be committed"
    assert dialog.summary.text() == "Nothing to commit: the approved facts below cannot be committed yet"
    window.close()
