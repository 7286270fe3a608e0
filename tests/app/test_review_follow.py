"""The preview pane follows the selected fact, stored previews come back after a restart, the
verdict heads the metrics (a failed edit never looks like success), and labels stay current."""

import copy
from html import escape

import pytest
from PySide6.QtCore import Qt

from app.widgets.metrics_view import FLUENCY_SAME, GOOD, PROTOCOL_HELP
from core import verdict_headline
from core.util.paths import demo_edits_file
from tests.app.helpers import click_preview, click_row, fast_rome, open_window, wait_job

pytestmark = pytest.mark.gui


def _ready(qtbot, **kwargs):
    window = open_window(qtbot, **kwargs)
    wait_job(qtbot, window.import_facts(demo_edits_file()), 60_000)
    fast_rome(window)
    return window


def test_preview_follows_the_selection_and_comes_back_stored_after_a_restart(qtbot):
    window = _ready(qtbot)
    panel = window.preview_panel
    uk = click_row(qtbot, window, 0)
    assert click_preview(qtbot, window).state.value == "done"
    uk_run = panel.run
    assert uk_run.fact_ids == (uk,) and panel.generations.visible_rows()
    other = click_row(qtbot, window, 1)  # another fact: not the UK's run any more
    assert panel.run is None and "No preview of the selected fact" in panel.state.text()
    assert panel.generations.visible_rows() == [] and panel.metrics.table.rowCount() == 0
    qtbot.mouseClick(window.review_bar.buttons["rework"], Qt.MouseButton.LeftButton)
    assert window.ws.fact(other).status == "needs-rework" and window.ws.fact(uk).status == "pending"
    click_row(qtbot, window, 0)
    assert panel.run.id == uk_run.id and escape(verdict_headline(uk_run.metrics["verdict"])) in panel.state.text()
    qtbot.mouseClick(window.review_bar.buttons["approve"], Qt.MouseButton.LeftButton)
    assert window.ws.fact(uk).status == "approved", "Approve acts on the fact whose run is shown"
    workspace, runs = window.ws.path, len(window.ws.runs())
    window.close()

    again = open_window(qtbot, workspace=workspace)
    click_row(qtbot, again, 0)
    shown = again.preview_panel
    assert shown.run is not None and shown.run.id == uk_run.id, "the stored preview, not recomputed"
    assert escape(verdict_headline(uk_run.metrics["verdict"])) in shown.state.text()
    assert shown.generations.visible_rows() == uk_run.previews
    assert shown.metrics.table.item(0, 0).text().startswith("Verdict:")
    assert len(again.ws.runs()) == runs and not again.lane.jobs
    again.close()


def test_a_failed_edit_is_headed_by_its_verdict_and_never_green(qtbot):
    window = _ready(qtbot)
    window.method_panel.set_override("v_lr", "1e-9")  # an edit that cannot move the model
    click_row(qtbot, window, 0)
    click_preview(qtbot, window)
    verdict = window.preview_panel.run.metrics["verdict"]
    assert verdict["verdict"] == "failed"
    metrics = window.preview_panel.metrics
    assert metrics.table.item(0, 0).text() == f"Verdict: {verdict_headline(verdict)}"
    assert metrics.table.item(0, 0).foreground().color().name() == "#b3261e"
    rising = copy.deepcopy(window.preview_panel.run.metrics)  # the cells follow the legend, the verdict row stays red
    rising["post_all"]["reliability"] = rising["pre_all"]["reliability"] + 0.5
    metrics.set_metrics(rising)
    assert metrics.table.item(0, 0).foreground().color().name() == "#b3261e"
    row = next(r for r in range(metrics.table.rowCount()) if metrics.table.item(r, 0).text() == "reliability")
    assert metrics.change_colour(row) == GOOD, "a rise in reliability is better, as the header says"
    window.close()


def test_metrics_are_grouped_by_protocol_and_explained(qtbot):
    window = _ready(qtbot)
    click_row(qtbot, window, 0)
    click_preview(qtbot, window)
    table = window.preview_panel.metrics.table
    groups = [table.item(r, 0).text() for r in range(table.rowCount()) if table.columnSpan(r, 0) > 1]
    assert groups[0].startswith("Verdict:")
    assert groups[1:] == ["teacher_forced protocol — the verdict's figures",
                          "probability protocol — new answer against old answer only, not what the model says",
                          "generation protocol — what the model says, which the verdict checks too",
                          "fluency protocol"][:len(groups) - 1]
    assert len(groups) >= 4
    protocols = [table.item(r, 4).text() for r in range(table.rowCount()) if table.columnSpan(r, 0) == 1]
    assert protocols == sorted(protocols, key=list(PROTOCOL_HELP).index), "grouped, not interleaved"
    row = next(r for r in range(table.rowCount())
               if table.item(r, 0).data(Qt.ItemDataRole.UserRole) == "probability.reliability")
    assert table.item(row, 0).text() == "reliability", "the group row names the protocol"
    assert table.item(row, 0).toolTip() == f"probability.reliability: {PROTOCOL_HELP['probability']}"
    fluency = next(r for r in range(table.rowCount()) if table.item(r, 0).text() == "fluency")
    if table.item(fluency, 3).text() in ("+0.000", "-0.000"):
        assert FLUENCY_SAME in table.item(fluency, 3).toolTip()
    window.close()


@pytest.mark.usefixtures("empty_cache")  # "missing" until the preview computes them
def test_labels_follow_statistics_commits_and_reopening(qtbot):
    window = _ready(qtbot)
    assert window.model_panel.memory.text(), "the memory line is filled at once"
    panel = window.method_panel
    panel.set_override("use_covariance", "true")
    panel.set_override("stats_tokens", "700")
    assert "missing" in panel.stats_label.text()
    click_row(qtbot, window, 0)
    click_preview(qtbot, window)
    assert "cached" in panel.stats_label.text(), "the preview computed the statistics"
    run = window.preview_panel.run
    assert f"recorded as run {run.id} (not committed)" in window.preview_panel.state.text()
    window.review_selected("approve")
    wait_job(qtbot, window.commit("first edit", force=True))  # whatever its verdict
    head = window.ws.head()
    assert f"recorded as run {run.id} (committed in {head.short_id})" in window.preview_panel.state.text()
    workspace = window.ws.path
    window.close()
    again = open_window(qtbot, workspace=workspace)
    assert again.model_panel.memory.text(), "the memory line is filled after reopening"
    again.close()
