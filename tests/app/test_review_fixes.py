"""A new user's trial of the review pane: the whole verdict, one gate, the preview pane never
showing another fact's data, and the method a stored preview was made with."""

import copy
from types import SimpleNamespace

import pytest
from PySide6.QtCore import Qt

from app.dialogs.commit_dialog import gate_note
from app.widgets.history_panel import MESSAGE
from core import DEFAULT_THRESHOLDS, verdict_headline
from core.util.paths import demo_edits_file
from core.workflows.verdict import DEFAULT_RULES
from tests.app.helpers import click_preview, click_row, fast_rome, open_window, wait_job

pytestmark = pytest.mark.gui


def _ready(qtbot, **kwargs):
    window = open_window(qtbot, **kwargs)
    wait_job(qtbot, window.import_facts(demo_edits_file()), 60_000)
    fast_rome(window)
    return window


def _two_failing(metrics):
    """The run's metrics with locality failing too (beside reliability): two failing criteria."""
    worse = copy.deepcopy(metrics)
    checks = worse["verdict"]["facts"][0]["checks"]
    for check in checks:
        if check["metric"] in ("reliability", "locality"):
            check.update(value=0.12 if check["metric"] == "reliability" else 0.71, held=False)
    return worse


def test_the_headline_lists_every_failing_criterion(qtbot):
    window = _ready(qtbot)
    window.method_panel.set_override("v_lr", "1e-9")  # an edit that cannot move the model
    click_row(qtbot, window, 0)
    click_preview(qtbot, window)
    panel = window.preview_panel
    verdict = panel.run.metrics["verdict"]
    failing = [c for f in verdict["facts"] for c in f["checks"] if c["held"] is False]
    assert verdict["verdict"] == "failed" and failing
    for check in failing:
        said = f"{check['metric']} {check['value']:.2f} &lt; {check['bound']:.2f}"
        assert said in panel.state.text(), (said, panel.state.text())
    assert panel.metrics.table.item(0, 0).text() == f"Verdict: {verdict_headline(verdict)}"

    stored = SimpleNamespace(**{**vars(panel.run), "metrics": _two_failing(panel.run.metrics)})
    panel.show_run(stored)
    shown = panel.state.text()
    assert "did not take: reliability 0.12 &lt; 0.95; " in shown and "; locality 0.71 &lt; 0.90" in shown
    row = panel.metrics.table.item(0, 0).text()
    assert "reliability 0.12 < 0.95" in row and "locality 0.71 < 0.90" in row
    window.close()


def test_the_commit_gate_and_the_verdict_use_one_threshold(qtbot):
    assert {"reliability": DEFAULT_RULES.reliability, "locality": DEFAULT_RULES.locality} == DEFAULT_THRESHOLDS
    window = _ready(qtbot)
    assert window.preview_panel.metrics.thresholds["locality"] == DEFAULT_RULES.locality
    dialog = window.open_commit_dialog()
    assert "the verdict's targets for these two" in dialog.gate_note.text()
    assert "locality ≥ 0.90" in dialog.gate_note.text()
    dialog.thresholds["locality"].setValue(0.8)  # the reviewer's own gate: said, with why it differs
    note = dialog.gate_note.text()
    assert "locality ≥ 0.80" in note and "your own" in note and "locality ≥ 0.90" in note
    assert gate_note({"reliability": 0.5}) != gate_note({"reliability": DEFAULT_RULES.reliability})
    dialog.reject()
    window.close()


def test_the_preview_pane_never_shows_another_facts_data(qtbot):
    window = _ready(qtbot)
    panel = window.preview_panel
    click_row(qtbot, window, 0)
    click_preview(qtbot, window)
    first_losses, first_run = list(panel.loss.losses), panel.run
    assert first_losses, "the live curve of the first preview"
    click_row(qtbot, window, 1)
    assert panel.run is None and panel.loss.losses == [], "no curve of the other fact's run"
    assert panel.generations.visible_rows() == [] and "nothing" in panel.showing.text()
    click_row(qtbot, window, 0)
    assert panel.run.id == first_run.id and panel.loss.losses == first_losses
    uk = window.ws.fact(first_run.fact_ids[0]).fact.subject
    assert f"run {first_run.id}" in panel.showing.text() and uk in panel.showing.text()

    second = click_row(qtbot, window, 1)
    qtbot.mouseClick(panel.preview_button, Qt.MouseButton.LeftButton)
    job = panel.job
    assert job is not None and job.active
    assert panel.run is None and panel.generations.visible_rows() == [] and panel.metrics.table.rowCount() == 0
    assert "running" in panel.showing.text() and window.ws.fact(second).fact.subject in panel.showing.text()
    click_row(qtbot, window, 0)  # another fact selected while it runs: the pane says what it shows
    assert "running" in panel.showing.text() and panel.run is None
    wait_job(qtbot, job)
    window.close()


def test_the_pane_says_which_method_made_the_stored_preview(qtbot):
    window = _ready(qtbot)
    click_row(qtbot, window, 0)
    click_preview(qtbot, window)
    workspace = window.ws.path
    window.close()

    again = open_window(qtbot, workspace=workspace)
    again.method_panel.method.setCurrentText("ice")
    click_row(qtbot, again, 0)
    showing = again.preview_panel.showing.text()
    assert again.preview_panel.run.method == "rome"
    assert "made with ROME" in showing and "set to ICE" in showing, showing
    again.method_panel.method.setCurrentText("rome")
    assert "made with" not in again.preview_panel.showing.text()
    again.close()


def test_a_committed_decision_cannot_be_undone_and_the_button_says_why(qtbot):
    window = _ready(qtbot)
    uk = click_row(qtbot, window, 0)
    click_preview(qtbot, window)
    qtbot.mouseClick(window.review_bar.buttons["approve"], Qt.MouseButton.LeftButton)
    undo = window.review_bar.undo_button
    assert undo.isEnabled() and "Undo approved" in undo.text()
    wait_job(qtbot, window.commit("the UK edit", force=True))
    assert window.ws.fact(uk).committed
    assert not undo.isEnabled() and undo.text() == "Undo approved United Kingdom (committed)"
    assert "revert its edit in History to change it" in undo.toolTip()
    window.undo_review()  # Edit → Undo last review decision, as the menu does
    message = window.review_bar.message.text()
    assert "“approved United Kingdom” is committed: revert its edit in History" in message
    assert "&quot;" not in message and window.review_bar.message.toolTip().startswith("Nothing to undo")
    assert uk[:12] not in message and window.ws.fact(uk).status == "approved"
    window.close()


def test_history_marks_the_live_model_and_a_reverted_fact_reads_reverted(qtbot, monkeypatch):
    from PySide6.QtWidgets import QInputDialog

    from app.widgets.history_panel import LIVE_MARKER

    window = _ready(qtbot)
    window.resize(1366, 768)
    uk = click_row(qtbot, window, 0)
    click_preview(qtbot, window)
    qtbot.mouseClick(window.review_bar.buttons["approve"], Qt.MouseButton.LeftButton)
    wait_job(qtbot, window.commit("the UK edit " + "with a long message " * 4, force=True))
    edits = window.ws.head()
    window.tabs.setCurrentWidget(window.history)
    qtbot.wait(50)
    tree = window.history.tree
    live = tree.topLevelItem(0)
    assert live.text(MESSAGE).startswith(LIVE_MARKER.strip()), live.text(MESSAGE)
    rect = tree.visualItemRect(live)
    start = tree.header().sectionViewportPosition(MESSAGE)
    shown = min(tree.columnWidth(MESSAGE), tree.viewport().width() - start)
    bold = tree.fontMetrics().horizontalAdvance(LIVE_MARKER) * 1.2
    assert rect.height() > 0 and shown >= bold, "the whole marker is visible at 1366×768"

    window.history.select([edits.id])
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("take it back", True))
    before = window.lane.jobs
    window.history.buttons["revert"].click()
    wait_job(qtbot, next(j for j in window.lane.jobs if j not in before))
    revert = window.ws.head()
    assert revert.kind == "revert" and window.ws.fact(uk).status == "approved"
    model = window.queue.model
    status = model.data(model.index(model.row_of(uk), 0))
    assert status == "reverted", status  # the revert's id in the tooltip: the Status column stays narrow
    tip = model.data(model.index(model.row_of(uk), 0), Qt.ItemDataRole.ToolTipRole)
    assert f"Its edit was reverted in {revert.short_id}: preview it again to re-apply it" in tip
    click_row(qtbot, window, 0)
    assert f"reverted in {revert.short_id}" in window.preview_panel.state.text()
    assert tree.topLevelItem(0).text(MESSAGE).startswith(LIVE_MARKER.strip())
    undo = window.review_bar.undo_button  # trial 47: Undo offered to make the reverted fact pending
    assert not undo.isEnabled() and "committed and reverted since" in undo.toolTip(), undo.toolTip()
    window.undo_review()
    assert window.ws.fact(uk).status == "approved" and model.data(model.index(model.row_of(uk), 0)) == "reverted"
    window.close()


@pytest.mark.parametrize("launcher", ["missing", "fails"])
def test_open_log_without_a_desktop_launcher_shows_the_path_to_copy(qtbot, monkeypatch, launcher):
    from PySide6.QtGui import QDesktopServices, QGuiApplication

    import app.menus

    opened = []
    monkeypatch.setattr(app.menus.shutil, "which", lambda name: None if launcher == "missing" else "/usr/bin/" + name)
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or False)
    window = open_window(qtbot)
    window.open_log_action.trigger()  # Help → Open log
    dialog = window.log_dialog
    assert dialog.isVisible() and dialog.path_field.text() == str(window.log_file)
    assert dialog.path_field.isReadOnly() and (launcher == "fails") == bool(opened)
    qtbot.mouseClick(dialog.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == str(window.log_file)
    dialog.reject()
    window.close()


def test_suggest_answers_locality_prompts_with_the_live_edited_model(qtbot):
    from core.facts.suggest import suggest_old_answer

    window = _ready(qtbot)
    window.method_panel.set_override("v_steps", "25")
    uk = click_row(qtbot, window, 0)
    click_preview(qtbot, window)
    qtbot.mouseClick(window.review_bar.buttons["approve"], Qt.MouseButton.LeftButton)
    wait_job(qtbot, window.commit("the UK edit", force=True))
    edited = window.ws.fact(uk).fact
    live_answer = suggest_old_answer(window.session.lm, edited.prompt)
    assert live_answer != edited.target_true, "the committed edit changed the live model's answer"

    editor = window.editor
    window.tabs.setCurrentWidget(editor)
    editor.fields["subject"].setText("Germany")
    editor.fields["prompt"].setText("The capital of Germany is")
    editor.fields["target_new"].setText("Lisbon")
    editor.fields["relation"].setText(edited.relation)
    wait_job(qtbot, window.suggest(editor.body()), 60_000)
    probes = dict(editor.locality.rows())
    assert edited.prompt in probes, probes
    assert probes[edited.prompt] == live_answer, "the live model's answer, not the base model's"
    window.close()


def test_a_failed_edits_changed_answer_is_not_green(qtbot):
    from app.widgets.generations_view import AMBER, GREEN, RED

    window = _ready(qtbot)
    window.method_panel.set_override("v_lr", "1e-9")  # an edit that does not take
    fact = click_row(qtbot, window, 0)
    click_preview(qtbot, window)
    panel = window.preview_panel
    assert panel.run.metrics["verdict"]["verdict"] == "failed"
    # the answer did change, only not to the new one (what the trial saw: reliability 0 → 0)
    rows = [{"fact_id": fact, "kind": "prompt", "prompt": "The capital of X is", "before": " London",
             "after": " Paris"}]
    panel.show_run(SimpleNamespace(**{**vars(panel.run), "previews": rows}))
    page = panel.generations.browser.toHtml()
    assert f"background-color:{RED}" in page and f"background-color:{GREEN}" not in page

    took = copy.deepcopy(panel.run.metrics)
    took["verdict"]["verdict"] = "took"
    for check in took["verdict"]["facts"][0]["checks"]:
        check["held"] = True
    panel.show_run(SimpleNamespace(**{**vars(panel.run), "metrics": took}))
    assert f"background-color:{GREEN}" not in panel.generations.browser.toHtml(), "' Paris' is not the new answer"
    said = [{**rows[0], "after": f" {took['next_tokens'][0]['target_new']}."}]  # the row itself says it
    panel.show_run(SimpleNamespace(**{**vars(panel.run), "metrics": took, "previews": said}))
    assert f"background-color:{GREEN}" in panel.generations.browser.toHtml(), "green where it says the new answer"
    panel.generations.set_previews(rows)  # no verdict known: a change is not called a success
    assert f"background-color:{AMBER}" in panel.generations.browser.toHtml()
    window.close()


def test_the_metrics_chart_legend_sits_beside_not_over_the_bars(qtbot):
    window = _ready(qtbot)
    window.resize(1366, 768)
    click_row(qtbot, window, 0)
    click_preview(qtbot, window)
    view = window.preview_panel.metrics
    window.preview_panel.tabs.setCurrentWidget(view)
    qtbot.wait(50)
    assert view.chart.getPlotItem().legend is None, "no legend drawn inside the plot, over the bars"
    assert view.legend.isVisible() and "pre" in view.legend.text() and "threshold" in view.legend.text()
    chart = view.chart.geometry()
    assert view.legend.geometry().top() >= chart.bottom(), "the legend is under the chart"
    assert view.chart.getViewBox().viewRange()[1][1] <= 1.1, "no empty band kept for a legend"
    window.close()


def test_undo_takes_back_the_last_decision_not_committed(qtbot):
    """Trial 44: reject one fact, approve and commit another: Undo named the committed one and did
    nothing, though the README says it takes back the last decision not yet committed."""
    window = _ready(qtbot)
    first = click_row(qtbot, window, 1)
    bar = window.review_bar
    bar.note.setText("wrong source")
    qtbot.mouseClick(bar.buttons["reject"], Qt.MouseButton.LeftButton)
    uk = click_row(qtbot, window, 0)
    click_preview(qtbot, window)
    qtbot.mouseClick(bar.buttons["approve"], Qt.MouseButton.LeftButton)
    wait_job(qtbot, window.commit("the UK edit", force=True))
    assert bar.undo_button.isEnabled() and "rejected" in bar.undo_button.text()
    window.undo_review()
    assert window.ws.fact(first).status == "pending" and window.ws.fact(uk).status == "approved"
    assert bar.message.text().startswith("Undone: rejected")
    window.close()
