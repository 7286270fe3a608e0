"""The window never stalls: what a refresh shows is read from the ledger in the job lane, the
fact queue redraws only the rows that changed (keeping the selection and the scroll position),
charts are not redrawn for the same data, and torch and transformers are imported off the GUI
thread. How fast is measured by bench/gui_latency.py, not here."""

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from app.models.fact_table import FactTableModel
from app.widgets.history_panel import MESSAGE
from core import Workspace
from core.util.paths import demo_edits_file
from tests.app.helpers import click_preview, fast_rome, open_window, wait_job
from tests.app.test_fact_table import RECORDS, _record, _run

pytestmark = pytest.mark.gui

ROOT = Path(__file__).resolve().parents[2]
# the reads that cost a millisecond a fact, or one per commit
HEAVY_READS = ("queue", "runs", "history", "log", "show", "tags")


def _record_reads(monkeypatch) -> list[tuple[str, bool]]:
    """(Workspace method, whether it ran on the GUI thread), for every heavy read from now on."""
    seen = []

    def recorded(name, original):
        def read(self, *args, **kwargs):
            seen.append((name, threading.current_thread() is threading.main_thread()))
            return original(self, *args, **kwargs)
        return read

    for name in HEAVY_READS:
        monkeypatch.setattr(Workspace, name, recorded(name, getattr(Workspace, name)))
    return seen


def _spy(model: FactTableModel) -> dict[str, list]:
    """The model's change signals: resets, changed row ranges, inserted row ranges."""
    seen = {"reset": [], "changed": [], "inserted": []}
    model.modelReset.connect(lambda: seen["reset"].append(True))
    model.dataChanged.connect(lambda first, last, _roles=(): seen["changed"].append((first.row(), last.row())))
    model.rowsInserted.connect(lambda _parent, first, last: seen["inserted"].append((first, last)))
    return seen


def test_the_model_changes_only_the_rows_that_changed():
    model = FactTableModel()
    model.set_facts(RECORDS)
    seen = _spy(model)
    reviewed = [*RECORDS[:2], _record("Peru", "approved"), RECORDS[3]]
    assert reviewed[2].id == RECORDS[2].id
    assert model.set_facts(reviewed, [_run([RECORDS[0].id], 0.5)]) is False
    assert seen == {"reset": [], "changed": [(0, 0), (2, 2)], "inserted": []}, "a new run and a new status"
    assert model.index(2, 0).data() == "approved" and model.index(0, 6).data() == "0.50"
    added = _record("Bolivia", "pending")
    model.set_facts([*reviewed, added], [_run([RECORDS[0].id], 0.5)])
    assert seen["inserted"] == [(4, 4)] and seen["changed"] == [(0, 0), (2, 2)] and not seen["reset"]
    assert model.row_of(added.id) == 4
    model.update_facts([_record("Bolivia", "rejected"), _record("Chile", "rejected", "Lima")])
    assert seen["changed"][-1] == (3, 4) and model.index(4, 0).data() == "rejected", "one signal for both"
    assert model.set_facts(list(reversed(model.records()))) is True, "reordered: reset"
    assert seen["reset"] == [True] and model.row_of(added.id) == 0


def _queue_scrolled_to(qtbot, window, row: int) -> str:
    """Select a row far down the queue, scrolled into view, as the reviewer left it."""
    window.queue.select_row(row)
    window.queue.table.scrollTo(window.queue.table.currentIndex())
    assert window.queue.table.verticalScrollBar().value() > 0, "the queue is taller than its view"
    return window.queue.selected_ids()[0]


def test_review_and_commit_redraw_only_their_rows_and_read_the_ledger_in_the_lane(qtbot, monkeypatch):
    window = open_window(qtbot)
    wait_job(qtbot, window.import_facts(demo_edits_file()), 60_000)
    fast_rome(window)
    fact_id = _queue_scrolled_to(qtbot, window, 45)
    assert click_preview(qtbot, window).state.value == "done"
    row = window.queue.model.row_of(fact_id)
    scrolled = window.queue.table.verticalScrollBar().value()
    seen, reads = _spy(window.queue.model), _record_reads(monkeypatch)
    window.review_bar.decide("approve")
    assert seen == {"reset": [], "changed": [(row, row)], "inserted": []}
    assert not reads, "a review reads only the reviewed facts"
    assert window.review_bar.undo_button.text().startswith("Undo approved")
    job = window.commit("responsive", force=True)
    wait_job(qtbot, job)
    assert job.state.value == "done", window.last_error.text()
    assert seen == {"reset": [], "changed": [(row, row), (row, row)], "inserted": []}, "only the committed row"
    assert window.queue.model.index(row, 0).data().startswith("committed")  # "⚠" too if it did not wholly take
    assert window.queue.selected_ids() == [fact_id] and window.queue.table.verticalScrollBar().value() == scrolled
    assert window.history.tree.topLevelItem(0).text(MESSAGE).endswith("responsive")  # after the live-model marker
    assert {"queue", "runs", "log", "show"} <= {name for name, _ in reads}, "the refresh read the ledger"
    assert [name for name, on_gui in reads if on_gui] == [], "every read ran in the job lane"
    assert "at HEAD" in window.live_status.toolTip() and window.preview_panel.run is not None
    assert "committed in" in window.preview_panel.state.text(), "the live commit holds the selected run"
    window.close()


def test_load_and_import_read_the_ledger_in_the_lane(qtbot, monkeypatch):
    reads = _record_reads(monkeypatch)
    window = open_window(qtbot)
    wait_job(qtbot, window.import_facts(demo_edits_file()), 60_000)
    assert window.queue.model.rowCount() == 60 and window.history.tree.topLevelItemCount() == 1
    assert {"queue", "runs", "log", "show"} <= {name for name, _ in reads}
    assert [name for name, on_gui in reads if on_gui] == [], "every read ran in the job lane"
    window.close()


def test_the_same_run_shown_again_is_not_redrawn(qtbot):
    from app.widgets.history_panel import HistoryPanel
    from app.widgets.metrics_view import MetricsView

    view = MetricsView({"reliability": 0.8})
    qtbot.addWidget(view)
    metrics = {"pre": {"reliability": 0.1}, "post": {"reliability": 0.9}}
    view.set_metrics(metrics)
    bars = view.chart.getPlotItem().items[:]
    view.set_metrics(dict(metrics))
    assert view.chart.getPlotItem().items == bars, "the same metrics: the chart is left as it was"
    view.thresholds["reliability"] = 0.95
    view.set_metrics(metrics)
    assert view.chart.getPlotItem().items != bars, "new thresholds: redrawn"
    history = HistoryPanel()
    qtbot.addWidget(history)
    history.set_drift([(1, 0.5, 0.9, 1)])
    lines = history.chart.getPlotItem().items[:]
    history.set_drift([(1, 0.5, 0.9, 1)])
    assert history.chart.getPlotItem().items == lines
    history.set_drift([(1, 0.5, 0.9, 1), (2, 0.6, 0.8, 2)])
    assert history.chart.getPlotItem().items != lines


# A fresh interpreter: the window comes up without torch; the lane's first job imports it.
_WARM_UP = """
import gc, json, sys, threading
from PySide6.QtWidgets import QApplication
from app.main_window import MainWindow

class Spy:  # who imports torch first
    importer = []
    def find_spec(self, name, path=None, target=None):
        if name == "torch" and not self.importer:
            self.importer.append(threading.current_thread().name)

sys.meta_path.insert(0, Spy())
app = QApplication([])
window = MainWindow()
estimate = window.model_panel.memory.text()
while window.warm_job.active:
    app.processEvents()
    threading.Event().wait(0.01)
app.processEvents()
print(json.dumps([Spy.importer, estimate, window.model_panel.memory.text(), gc.isenabled()]))
window.close()
"""


def test_torch_is_imported_in_the_job_lane_not_the_gui_thread(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "FACTSMITH_DATA_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", _WARM_UP], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    importer, before, after, collecting = json.loads(done.stdout.splitlines()[-1])
    assert len(importer) == 1 and importer[0].startswith("factsmith-job"), importer
    assert before == "Estimating…" and "GiB" in after, "the memory estimate waits for torch"
    assert collecting, "garbage collection is back on after the imports"


def test_the_metrics_chart_keeps_its_names_and_its_place_after_a_failed_preview(qtbot):
    """Trial 38: stacked under the table the chart's bar names were cut in half, and after a failed
    preview (no metrics) the chart jumped beside the table."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    from app.widgets.metrics_view import CHART_MIN_HEIGHT, MetricsView

    view = MetricsView({"reliability": 0.95, "locality": 0.9})
    qtbot.addWidget(view)
    view.resize(480, 245)
    view.show()
    view.set_metrics({"pre": {"reliability": 0.0, "generality": 0.0, "locality": 1.0},
                      "post": {"reliability": 1.0, "generality": 0.5, "locality": 1.0}})
    QApplication.processEvents()
    import pyqtgraph as pg

    lines = [i for i in view.chart.getPlotItem().items if isinstance(i, pg.PlotDataItem)]
    assert sorted(line.yData[0] for line in lines) == [0.8, 0.9, 0.95], "generality's target is drawn too"
    axis = view.chart.getAxis("bottom")
    assert view.orientation() == Qt.Orientation.Vertical and view.chart.height() >= CHART_MIN_HEIGHT
    assert axis.height() >= view.chart.fontMetrics().height() + 8, "room for the names under the bars"
    view.set_metrics({})
    view.resize(480, 246)
    QApplication.processEvents()
    assert view.orientation() == Qt.Orientation.Vertical, "an empty table does not flip the layout"
