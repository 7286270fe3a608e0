"""Trial 34: the Next tokens tab was empty when the reviewer came back to a previewed fact, while
its generations, metrics and loss curve came back as stored."""

import pytest

from tests.app.helpers import click_preview, click_row, fast_rome, open_window, wait_job

pytestmark = pytest.mark.gui


def _table(window) -> list[tuple[str, ...]]:
    view = window.preview_panel.tokens
    return [tuple(view.item(r, c).text() for c in range(3)) for r in range(view.rowCount())]


def test_next_tokens_come_back_with_a_stored_run(qtbot):
    from core.util.paths import demo_edits_file

    window = open_window(qtbot)
    wait_job(qtbot, window.import_facts(demo_edits_file()), 60_000)
    fast_rome(window)
    click_row(qtbot, window, 0)
    click_preview(qtbot, window)
    live = _table(window)
    assert live[0][0].startswith("P(new: ") and any(row[0] == "top 1" for row in live), live
    click_row(qtbot, window, 1)
    qtbot.waitUntil(lambda: window.preview_panel.run is None or window.preview_panel.token_fact.count() == 0)
    click_row(qtbot, window, 0)
    qtbot.waitUntil(lambda: window.preview_panel.run is not None)
    assert _table(window) == live, "the stored run shows the tokens the preview showed"
    assert window.preview_panel.token_fact.count() == 1

    run = window.preview_panel.run
    older = {k: v for k, v in run.metrics.items() if k != "next_tokens"}  # a run stored before them
    window.preview_panel.show_run(type(run)(**{**run.__dict__, "metrics": older}))
    assert _table(window) == [("not stored for this run", "preview again to see them", "")]
    window.close()
