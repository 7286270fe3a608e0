"""The main window: the reviewer's whole loop — model, fact queue, editor, method, preview,
review, commit and history — as a thin client of the core API (through ``Session``)."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import QMainWindow, QSizePolicy, QSplitter, QTabWidget, QVBoxLayout, QWidget

from app.jobs import Job, JobLane
from app.logfile import start_logging
from app.menus import build_menus, warn_in_use
from app.session import Session
from app.settings import AppSettings
from app.slots import no_result
from app.warmup import warm_up
from app.widgets.elided_label import ElidedLabel
from app.widgets.fact_editor import FactEditor
from app.widgets.fact_queue import FactQueue
from app.widgets.history_panel import HistoryPanel
from app.widgets.job_status import JobStatus
from app.widgets.method_panel import MethodPanel
from app.widgets.model_panel import ModelPanel
from app.widgets.preview_panel import PreviewPanel
from app.widgets.prompt_panel import PromptPanel
from app.widgets.review_bar import BUTTONS_OWN_REVIEW_KEYS, DECISIONS, UNDO_KEY, ReviewBar
from app.widgets.trace_view import TraceView, say_selected, trace_selected
from app.window_actions import WindowActions
from app.window_train import open_train_dialog
from app.window_tune import tune_preset
from core import DEFAULT_THRESHOLDS, demo_model_dir, method_names

log = logging.getLogger(__name__)
METHOD_KEY = "method/chosen"  # the method panel's choice, kept across restarts


class MainWindow(WindowActions, QMainWindow):
    def __init__(self, model_path: Path | None = None, workspace: Path | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Factsmith")
        self.settings = AppSettings()
        self.log_file = start_logging()
        self.lane = JobLane(self)
        # torch and transformers load on the lane, first: the window shows (and answers) meanwhile
        self.warm_job = self.lane.submit("Loading torch and transformers", warm_up)
        self.session = Session(self.lane, self.settings, self)
        self.model_path = Path(model_path) if model_path else demo_model_dir()
        self.workspace_request = Path(workspace) if workspace else None
        self._draft_id: int | None = None
        self._build_widgets()
        self._build_layout()
        build_menus(self)
        self._connect()
        self.warm_job.finished.connect(self.model_panel.start_estimates)
        self._restore_geometry()
        self._keep_typed_text()

    def _build_widgets(self) -> None:
        self.model_panel = ModelPanel(self.settings.recent_models(), estimate_now=False)
        self.model_panel.set_folder(self.model_path)
        self.summary = self.model_panel.summary
        self.queue = FactQueue(self.settings)
        self.editor = FactEditor()
        self.method_panel = MethodPanel()
        self.method_panel.checkpoint_paths = self.settings.recent_checkpoints()
        if (method := self.settings.value(METHOD_KEY)) in method_names():  # as the reviewer left it
            self.method_panel.method.setCurrentText(method)
        thresholds = {m: self.settings.threshold(m) for m in DEFAULT_THRESHOLDS}
        self.preview_panel = PreviewPanel(thresholds)
        self.review_bar = ReviewBar()
        self.history = HistoryPanel()
        self.prompt_panel = PromptPanel()
        self.trace_view = TraceView()
        self.job_status = JobStatus(self.lane)
        self.live_status = ElidedLabel("No model")
        self.live_status.setObjectName("live-status")
        self.live_status.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Preferred)
        self.message = ElidedLabel()
        self.message.setObjectName("status-message")
        self._message_timer = QTimer(self, singleShot=True)
        self._message_timer.timeout.connect(lambda: self.message.setText(""))

    def _build_layout(self) -> None:
        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.model_panel)
        left.addWidget(self.queue)
        left.setSizes([250, 550])
        preview_page = QWidget()
        preview_layout = QVBoxLayout(preview_page)
        preview_split = QSplitter(Qt.Orientation.Horizontal)
        preview_split.addWidget(self.method_panel)
        preview_split.addWidget(self.preview_panel)
        preview_split.setSizes([250, 750])
        preview_layout.addWidget(preview_split, 1)
        preview_layout.addWidget(self.review_bar)
        self.tabs = QTabWidget()
        self.tabs.addTab(preview_page, "Preview && review")
        self.tabs.addTab(self.editor, "Fact editor")
        self.tabs.addTab(self.history, "History")
        self.tabs.addTab(self.prompt_panel, "Try a prompt")
        self.tabs.addTab(self.trace_view, "Causal trace")
        # the prompt tab takes the keyboard: typing and Enter go to its prompt, not the queue's selected row
        self.tabs.currentChanged.connect(self._tab_focus)
        main = QSplitter(Qt.Orientation.Horizontal)
        main.addWidget(left)
        main.addWidget(self.tabs)
        main.setSizes([600, 850])  # at 1024 wide the queue still shows New answer (tests/app/test_trial36_window.py)
        main.setChildrenCollapsible(False)  # dragging gives the preview room; it never hides the queue
        self.setCentralWidget(main)
        # messages on the left, the live model and the running job on the right, side by side:
        # long text is elided (the full text in the tooltip), never drawn under the others
        # the message takes the room; the short model line its natural width where there is some
        self.statusBar().addWidget(self.message, 1)
        self.statusBar().addPermanentWidget(self.live_status)
        self.statusBar().addPermanentWidget(self.job_status)

    def _connect(self) -> None:
        s = self.session
        s.model_changed.connect(self._on_model_changed)
        s.workspace_changed.connect(self._on_workspace_changed)
        s.facts_changed.connect(self.refresh_queue)
        s.runs_changed.connect(self.refresh_queue)
        s.history_changed.connect(self.refresh_history)
        s.live_changed.connect(lambda _: self._update_live_status())
        s.workspace_in_use.connect(lambda exc: warn_in_use(self, exc))
        self.model_panel.load_requested.connect(self.load)
        self.model_panel.eject_requested.connect(self.eject)
        self.queue.import_requested.connect(self.open_import_dialog)
        self.queue.new_requested.connect(self.new_fact)
        self.queue.selection_changed.connect(self.show_selected_run)
        self.queue.selection_changed.connect(self.say_review)
        self.queue.selection_changed.connect(lambda ids: say_selected(self, ids))
        self.method_panel.method.currentTextChanged.connect(lambda _: self.show_selected_run())
        self.method_panel.method.currentTextChanged.connect(lambda name: self.settings.set_value(METHOD_KEY, name))
        self.preview_panel.run_choice.chosen.connect(lambda run_id: self.show_selected_run(run_id=run_id))
        self.queue.open_requested.connect(self.open_in_editor)
        self.editor.draft_changed.connect(self.save_draft)
        self.editor.cleared.connect(self.discard_draft)
        self.editor.add_requested.connect(self.add_fact)
        self.editor.suggest_requested.connect(self.suggest)
        self.method_panel.compute_stats_requested.connect(self.compute_statistics)
        self.method_panel.tune_requested.connect(lambda method: tune_preset(self, method))
        self.method_panel.train_requested.connect(lambda method: open_train_dialog(self, method))
        self.preview_panel.preview_requested.connect(self.preview_selected)
        self.review_bar.decided.connect(no_result(self.review_selected))
        self.review_bar.undo_requested.connect(self.undo_review)
        self.prompt_panel.submitted.connect(self.generate)
        self.trace_view.trace_requested.connect(lambda: trace_selected(self))
        self._connect_history()
        QShortcut(QKeySequence("Esc"), self, activated=self.cancel_running)
        QShortcut(QKeySequence("Ctrl+P"), self, activated=self.preview_key)
        QShortcut(QKeySequence("Ctrl+Return"), self.editor, activated=self.editor.submit)
        QShortcut(QKeySequence("Ctrl+F"), self, activated=self.queue.focus_search)
        self._review_keys()

    def _review_keys(self) -> None:
        """Alt+A/R/W and Alt+U on every tab (trial 37: on the Fact editor tab Alt+R did nothing): the
        Preview tab comes forward, where the decision's message and the note it may need are. Not on
        macOS, where Option+U types "ü" in any field: there the buttons own them (review_bar)."""
        if BUTTONS_OWN_REVIEW_KEYS:
            return
        for decision, _label, key in DECISIONS:
            QShortcut(QKeySequence(key), self, activated=lambda d=decision: self._on_review_tab(
                lambda: self.review_bar.decide(d)))
        QShortcut(QKeySequence(UNDO_KEY), self, activated=lambda: self._on_review_tab(self._undo_key))

    def _on_review_tab(self, then) -> None:
        self.tabs.setCurrentIndex(0)
        then()

    def _undo_key(self) -> None:
        bar = self.review_bar
        if bar.undo_button.isEnabled() or bar.undo_blocked:
            self.undo_review()  # says why when the decision is committed
        else:
            bar.message.setText("Nothing to undo: no review decision is left to undo")

    def _connect_history(self) -> None:
        self.history.diff_requested.connect(self.show_diff)
        self.history.revert_requested.connect(self.revert)
        self.history.revert_edit_requested.connect(self.revert_edit)
        self.history.recompute_requested.connect(self.recompute)
        self.history.checkout_requested.connect(self.checkout)
        self.history.save_requested.connect(self.save_commit_folder)
        self.history.tag_requested.connect(self.tag)
        self.history.export_requested.connect(self.open_export_dialog)
        self.history.selection_changed.connect(self.show_commit)
        self.history.commit_id_copied.connect(lambda commit_id: self.notify(f"Copied commit id {commit_id}"))

    def notify(self, text: str, timeout_ms: int = 8000, written: Path | str | None = None) -> None:
        """A message in the status bar, elided to fit beside the permanent widgets. One naming a
        ``written`` file stays until the next message, the path's folders elided before its name."""
        path = str(written) if written else ""
        self.message.setText(text, path=path)
        if path:
            self._message_timer.stop()
        else:
            self._message_timer.start(timeout_ms)

    def _restore_geometry(self) -> None:
        geometry = self.settings.geometry()
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1440, 900)

    def _keep_typed_text(self) -> None:
        """The review note and free prompts survive a close or crash (fact drafts live in the workspace)."""
        for key, widget, text, changed in (
                ("typed/free_prompts", self.preview_panel.free_prompts, "toPlainText", "setPlainText"),
                ("typed/review_note", self.review_bar.note, "text", "setText")):
            getattr(widget, changed)(self.settings.value(key, ""))
            widget.textChanged.connect(lambda *_, w=widget, k=key, t=text: self._store_typed(k, getattr(w, t)()))

    def _store_typed(self, key: str, text: str) -> None:
        self.settings.set_value(key, text)
        self.settings.sync()

    @property
    def lm(self):
        return self.session.lm

    @property
    def ws(self):
        return self.session.ws

    def _tab_focus(self, _index: int) -> None:  # a slot returning nothing (a returned bool upsets PySide)
        if self.tabs.currentWidget() is self.prompt_panel:
            self.prompt_panel.input.setFocus()
        elif self.tabs.currentWidget() is self.editor and not self.editor.isAncestorOf(self.focusWidget()):
            self.editor.fields["subject"].setFocus()  # typing fills the form, not the model's folder (trial 43)

    def start(self) -> Job:
        """Load the chosen model (the demo model unless another was given) and its workspace. The
        keyboard starts in the fact queue: first in the tab chain, the folder field took what was
        typed into it (trial 43)."""
        self.queue.table.setFocus(Qt.FocusReason.OtherFocusReason)
        return self.load(self.model_path, self.model_panel.options(), self.workspace_request)

    def preview_key(self) -> None:
        """Ctrl+P: a preview, or why none starts (trial 44: pressed while one ran, it did nothing)."""
        panel = self.preview_panel
        if panel.job is not None and panel.job.active:
            self.notify(f"A preview is already queued or running ({panel.job.name}): wait for it to end, or Esc "
                        "cancels it")
        elif self.session.lm is None:
            self.notify("No model is loaded: load one to preview an edit")
        else:
            panel.request()

    def cancel_running(self) -> None:
        if self.preview_panel.job is not None:
            self.preview_panel.cancel()
        self.job_status.cancel()

    def changeEvent(self, event: QEvent) -> None:
        # back from a terminal: a preset `factsmith tune` saved meanwhile is offered (trial 46)
        if event.type() == QEvent.Type.ActivationChange and self.isActiveWindow():
            self.method_panel.recheck_presets()
        super().changeEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.flush_draft()
        self.settings.set_geometry(self.saveGeometry())
        self.settings.sync()
        self.lane.shutdown()
        self.session.close()
        super().closeEvent(event)
