"""The remaining findings of the new-user trial (issue 14), driven as the user did."""

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


def test_a_repeated_preview_is_shown_and_approved_and_the_commit_takes_the_approved_run(qtbot):
    """Trial 3, finding 1: previewing ROME, then other settings, then ROME again as before showed
    the second run and approved it; the repeated preview is a run of its own, shown and approved."""
    window = _ready(qtbot)
    fact_id = click_row(qtbot, window, 0)
    click_preview(qtbot, window)
    first = window.queue.model.latest_run(fact_id)
    window.method_panel.set_override("v_steps", "5")
    click_preview(qtbot, window)
    window.method_panel.set_override("v_steps", str(first.hparams["v_steps"]))
    click_preview(qtbot, window)  # the first preview again
    runs = window.ws.runs(fact_id)
    assert len(runs) == 3 and runs[-1].delta_sha256 == first.delta_sha256
    repeated = runs[-1]
    assert f"run {repeated.id} " in window.preview_panel.showing.text()
    qtbot.mouseClick(window.review_bar.buttons["approve"], Qt.MouseButton.LeftButton)
    window.method_panel.set_override("v_steps", "5")  # a preview after the approval is not what was approved
    click_preview(qtbot, window)
    dialog = window.open_commit_dialog()
    qtbot.addWidget(dialog)
    assert dialog.run_ids() == [repeated.id]
    dialog.message.setText("the approved edit")
    qtbot.mouseClick(dialog.commit_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.ws.head().applied == (repeated.id,), timeout=120_000)
    window.close()


def test_the_loss_curve_is_stored_with_the_run_and_drawn_after_a_restart(qtbot):
    from PySide6.QtWidgets import QApplication

    window = _ready(qtbot)
    fact_id = click_row(qtbot, window, 0)
    click_preview(qtbot, window)
    drawn = list(window.preview_panel.loss.losses)
    assert drawn and window.queue.model.latest_run(fact_id).metrics["losses"] == pytest.approx(drawn, abs=1e-5)
    window.close()
    again = open_window(qtbot)
    again.resize(1366, 768)
    click_row(qtbot, again, 0)
    QApplication.processEvents()
    loss = again.preview_panel.loss
    assert loss.losses == pytest.approx(drawn, abs=1e-5)
    axis, height = loss.getAxis("left"), loss.getViewBox().height()
    low, high = min(drawn), max(drawn)
    levels = axis.tickValues(low, high, height)
    assert len(levels) == 1 and levels[0][1], "one level of labels, at least one in view"
    assert len(levels[0][1]) == 1 or levels[0][0] * height / (high - low) >= 18, "labels never crowd"
    assert axis.width() >= again.fontMetrics().horizontalAdvance("0.0125") + 8, "labels are not cut"
    again.close()


@pytest.fixture
def tiny(qtbot, tiny_model_dir, tmp_path):
    """A tiny GPT-2, for which no editor was ever trained, with a few facts queued."""
    import json

    from tests.core.test_mend import TRAIN

    window = open_window(qtbot, model_path=tiny_model_dir("gpt2"))
    facts = tmp_path / "facts.jsonl"
    facts.write_text("".join(json.dumps(f.to_dict()) + "\n" for f in TRAIN[:3]), encoding="utf-8")
    wait_job(qtbot, window.import_facts(facts), 60_000)
    yield window
    window.close()


@pytest.mark.parametrize("method", ["mend", "ke", "instructedit", "recipe"])
def test_a_trained_editor_offers_no_tuning_and_says_why(qtbot, tiny, method):
    panel = tiny.method_panel
    panel.method.setCurrentText("rome")
    assert panel.tune_button.isEnabled()
    panel.method.setCurrentText(method)
    assert not panel.tune_button.isEnabled() and "Not for a trained editor" in panel.tune_button.toolTip()


def test_preview_without_a_trained_editor_says_what_to_do(qtbot, tiny):
    panel = tiny.method_panel
    panel.method.setCurrentText("mend")
    click_row(qtbot, tiny, 0)
    before = list(tiny.lane.jobs)
    qtbot.mouseClick(tiny.preview_panel.preview_button, Qt.MouseButton.LeftButton)
    assert tiny.preview_panel.job is None and tiny.lane.jobs == before, "nothing runs"
    state = tiny.preview_panel.state.text()
    assert "No trained MEND editor for this model yet" in state and "Train…" in state
    assert "Traceback" not in state and not hasattr(tiny, "last_error"), "no failure dialog"
    assert tiny.ws.runs() == []


def test_help_about_names_the_version_model_workspace_libraries_and_log(qtbot):
    from importlib import metadata

    import PySide6
    from PySide6.QtGui import QGuiApplication

    window = open_window(qtbot)
    help_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    next(a for a in help_menu.actions() if a.text() == "About Factsmith…").trigger()
    dialog = window.about
    assert dialog.isVisible()
    text = dialog.body.toPlainText()
    for expected in (f"Factsmith {metadata.version('factsmith')}", window.lm.info.name, str(window.ws.path),
                     str(window.log_file), f"torch {metadata.version('torch')}",
                     f"transformers {metadata.version('transformers')}", f"PySide6 {PySide6.__version__}"):
        assert expected in text
    qtbot.mouseClick(dialog.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == text
    dialog.reject()
    window.close()


def test_a_second_factsmith_on_the_same_workspace_is_warned_and_can_quit(qtbot):
    import json
    import os
    import socket
    import subprocess
    import sys

    from core.ledger.instance_lock import lock_path

    window = open_window(qtbot)
    lock, path = lock_path(window.ws.path), window.ws.path
    assert json.loads(lock.read_text())["pid"] == os.getpid() and not hasattr(window, "in_use_box")
    window.close()
    assert not lock.exists(), "closing lets go of the workspace"
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # the first instance
    try:
        lock.write_text(json.dumps({"pid": other.pid, "host": socket.gethostname(), "since": "2026-12-05T10:00:00",
                                    "program": "the Factsmith window"}), encoding="utf-8")
        again = open_window(qtbot)
        box = again.in_use_box
        assert box.isVisible() and f"process {other.pid}" in box.text() and str(path) in box.text()
        quit_button = next(b for b in box.buttons() if b.text() == "Quit")
        qtbot.mouseClick(quit_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not again.isVisible())
        assert json.loads(lock.read_text())["pid"] == other.pid, "the other instance keeps its lock"
    finally:
        other.kill()
        other.wait()


def _metric_tip(metrics, name):
    table = metrics.table
    row = next(r for r in range(table.rowCount())
               if table.columnSpan(r, 0) == 1 and table.item(r, 0).data(Qt.ItemDataRole.UserRole) == name)
    return table.item(row, 0).toolTip()


def test_metrics_and_generations_explain_their_units_and_marks_and_fit_at_1366(qtbot):
    from PySide6.QtCore import QRect
    from PySide6.QtWidgets import QApplication

    from app.widgets.checkpoint_choice import NONE_YET

    window = _ready(qtbot)
    window.resize(1366, 768)
    click_row(qtbot, window, 0)
    click_preview(qtbot, window)
    panel = window.preview_panel
    assert "● marks a changed row" in panel.generations.counts.text()
    assert "the edit changed this generation" in panel.generations.counts.toolTip()
    panel.tabs.setCurrentWidget(panel.metrics)
    QApplication.processEvents()
    metrics = panel.metrics
    assert "Pre-edit it is often above 0" in _metric_tip(metrics, "reliability")
    assert "in bits ×100" in _metric_tip(metrics, "fluency")
    assert "Mean of P(new answer) − P(old answer) over the paraphrase prompts" in \
        _metric_tip(metrics, "probability.generality_magnitude")
    assert "teacher-forced scores: the model is given the answer's earlier tokens" in \
        metrics.table.horizontalHeaderItem(1).toolTip()

    table, verdict = metrics.table, metrics.table.item(0, 0)
    width = min(table.viewport().width(), sum(table.columnWidth(c) for c in range(5))) - 8
    needed = table.fontMetrics().boundingRect(QRect(0, 0, width, 10_000), Qt.TextFlag.TextWordWrap, verdict.text())
    assert verdict.text().startswith("Verdict:") and table.rowHeight(0) >= needed.height(), "the verdict is whole"
    axis = metrics.chart.getAxis("bottom")
    labels = [label for _, label in axis._tickLevels[0]]
    room = (metrics.chart.width() - 40) / len(labels) - 8
    assert labels and all(metrics.chart.fontMetrics().horizontalAdvance(t) <= room for t in labels)
    metrics.set_metrics({})
    assert axis._tickLevels == [[]], "an empty chart keeps no labels to overlap"

    window.method_panel.method.setCurrentText("mend")
    QApplication.processEvents()
    choice = window.method_panel.checkpoint
    assert choice.currentText() == NONE_YET and choice.width() >= choice.fontMetrics().horizontalAdvance(NONE_YET) + 20
    window.tabs.setCurrentWidget(window.history)
    QApplication.processEvents()
    details = window.history.details
    assert details.height() >= 12 * details.fontMetrics().lineSpacing()
    assert details.height() > window.history.chart.height(), "the details get the larger part"
    window.close()


def test_confirmations_and_status_cells_keep_their_key_facts_at_1366(qtbot):
    from PySide6.QtWidgets import QApplication

    window = _ready(qtbot)
    window.resize(1366, 768)
    QApplication.processEvents()
    message = window.message
    assert "Imported 60 facts from demo_edits.jsonl" in message.shown_text(), message.shown_text()
    assert message.toolTip().endswith("from demo_edits.jsonl (factsmith)"), "the whole line in the tooltip"
    fact_id = click_row(qtbot, window, 0)
    click_preview(qtbot, window)
    qtbot.mouseClick(window.review_bar.buttons["approve"], Qt.MouseButton.LeftButton)
    assert wait_job(qtbot, window.commit("edit one", force=True)).state.value == "done"
    commit = window.ws.head()
    assert f"Committed {commit.short_id}" in message.shown_text()
    assert wait_job(qtbot, window.revert(commit.id, "take it out")).state.value == "done"
    QApplication.processEvents()
    revert = window.ws.head()
    assert f"New commit {revert.short_id} reverts {commit.id[:12]}" in message.shown_text()
    assert f"HEAD {revert.short_id}" in window.live_status.shown_text(), "the live commit is not cut either"
    model, table = window.queue.model, window.queue.table
    index = model.index(model.row_of(fact_id), 0)
    text = model.data(index)
    assert text == "reverted", "trial 38: the commit id widened the column; it is in the tooltip"
    assert table.columnWidth(0) >= table.fontMetrics().horizontalAdvance(text) + 8, "the status is not cut"
    tip = model.data(index, Qt.ItemDataRole.ToolTipRole)
    assert tip.startswith(text) and f"reverted in {revert.short_id}" in tip
    window.close()


def test_killing_the_launcher_leaves_no_app_running(tmp_path):
    """``packaging/bootstrap.py app`` becomes the app (exec) instead of starting a child that
    would outlive it: killing the launcher's process ends the app."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    flag = tmp_path / "app.pid"
    app = f"import os, time; open({str(flag)!r}, 'w').write(str(os.getpid())); time.sleep(120)"
    launcher = (  # the real bootstrap, with the environment set up already and a stand-in app
        "import importlib.util, sys; from pathlib import Path\n"
        f"spec = importlib.util.spec_from_file_location('bootstrap', {str(root / 'packaging' / 'bootstrap.py')!r})\n"
        "b = importlib.util.module_from_spec(spec); spec.loader.exec_module(b)\n"
        "b.ensure_environment = lambda **_: None\n"
        "b.venv_bin = lambda name: Path(sys.executable)\n"
        f"sys.exit(b.main(['app', '-c', {app!r}]))\n")
    process = subprocess.Popen([sys.executable, "-c", launcher])
    try:
        deadline = time.monotonic() + 30
        while not (flag.exists() and flag.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        app_pid = int(flag.read_text())
        assert app_pid == process.pid, "the launcher became the app: no child to outlive it"
        os.kill(process.pid, signal.SIGTERM)
        assert process.wait(10) == -signal.SIGTERM
        with pytest.raises(ProcessLookupError):
            os.kill(app_pid, 0)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
