"""Findings of new-user trial 33 in the window."""

import pytest

from core.util.paths import demo_edits_file
from tests.app.helpers import click_preview, click_row, fast_rome, open_window, wait_job

pytestmark = pytest.mark.gui


def _ready(qtbot):
    window = open_window(qtbot)
    wait_job(qtbot, window.import_facts(demo_edits_file()), 60_000)
    fast_rome(window)
    return window


def test_with_an_older_commit_checked_out_the_advice_is_to_check_out_head(qtbot):
    """Trial 33: with an older commit checked out into the model, every new preview said
    "computed on commit X, HEAD is Y — preview again", and previewing again computed on X again."""
    window = _ready(qtbot)
    first = click_row(qtbot, window, 0)
    click_preview(qtbot, window)
    window.review_selected("approve")
    root = window.ws.head()
    assert wait_job(qtbot, window.commit("first", [window.queue.model.latest_run(first).id],
                                         force=True)).state.value == "done"
    head = window.ws.head()
    assert wait_job(qtbot, window.checkout(root.id, confirmed=True)).state.value == "done"
    assert window.session.live_commit.id == root.id
    click_row(qtbot, window, 1)
    click_preview(qtbot, window)
    shown = window.preview_panel.showing.text()
    assert f"Computed on commit {root.short_id}, HEAD is now {head.short_id}" in shown
    assert f"the model holds commit {root.short_id}, checked out: check out HEAD ({head.short_id})" in shown
    window.review_selected("approve")
    dialog = window.open_commit_dialog()
    qtbot.addWidget(dialog)
    assert "check out HEAD" in dialog.stale_note.text() and "preview them again" not in dialog.stale_note.text()
    dialog.reject()
    assert wait_job(qtbot, window.checkout(head.id, confirmed=True)).state.value == "done"
    click_preview(qtbot, window)  # on HEAD now: no stale note
    assert "Computed on commit" not in window.preview_panel.showing.text()
    window.close()


def test_a_revert_with_an_empty_reason_says_nothing_was_reverted(qtbot, monkeypatch):
    """Trial 33: clearing "Why revert them?" and pressing OK closed the dialog, reverted
    nothing and said nothing."""
    from PySide6.QtWidgets import QInputDialog

    from tests.app.helpers import preview_and_approve_two

    window = open_window(qtbot)
    preview_and_approve_two(qtbot, window)
    wait_job(qtbot, window.commit("two edits", force=True))
    head = window.ws.head()
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("  ", True))
    assert window.revert(head.id) is None
    assert window.ws.head().id == head.id
    assert "Nothing reverted" in window.message.text() and "needs a reason" in window.last_error.text()
    monkeypatch.setattr(QInputDialog, "getItem", lambda *a, **k: (a[3][0], True))
    assert window.revert_edit(head.id) is None
    assert window.ws.head().id == head.id
    window.close()
