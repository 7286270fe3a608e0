"""A second new-user trial (issue 14): what misled the user, driven as the user did."""

import pytest
from PySide6.QtCore import Qt

from core.util.paths import demo_edits_file
from tests.app.helpers import click_preview, click_row, fast_rome, open_window, wait_job

pytestmark = pytest.mark.gui


def _ready(qtbot, **kwargs):
    window = open_window(qtbot, **kwargs)
    wait_job(qtbot, window.import_facts(demo_edits_file()), 60_000)
    fast_rome(window)
    return window


def test_layer_auto_without_a_meaningful_trace_says_it_kept_the_presets_layer(qtbot, monkeypatch):
    from core.workflows import auto_layer

    monkeypatch.setattr(auto_layer, "MIN_CLEAN_P", 2.0)  # no trace is meaningful, as for an edited fact
    window = _ready(qtbot)
    window.method_panel.set_override("layer", "auto")
    click_row(qtbot, window, 0)
    job = click_preview(qtbot, window)
    assert job.state.value == "done", window.last_error.text() if hasattr(window, "last_error") else ""
    shown = window.preview_panel.showing.text()
    assert "layer auto: no meaningful trace, so the preset's layer was used" in shown
    window.close()


def test_approve_without_a_preview_is_refused_and_the_commit_dialog_lists_unrun_approvals(qtbot):
    window = _ready(qtbot)
    fact_id = click_row(qtbot, window, 1)
    qtbot.mouseClick(window.review_bar.buttons["approve"], Qt.MouseButton.LeftButton)
    assert window.ws.fact(fact_id).status == "pending"
    message = window.review_bar.message.text()
    assert "Preview first" in message and window.ws.fact(fact_id).fact.subject in message
    window.ws.review(fact_id, "approve")  # approved elsewhere (the CLI) without a run
    dialog = window.open_commit_dialog()
    qtbot.addWidget(dialog)
    assert dialog.left_out.isVisibleTo(dialog)
    assert "Approved, no run — not committed" in dialog.left_out.text()
    assert window.ws.fact(fact_id).fact.subject in dialog.left_out.text()
    dialog.reject()
    window.close()
