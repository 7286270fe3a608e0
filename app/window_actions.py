"""The main window's actions on the model, the queue, the editor and the preview (the review's: ``window_review``).

A mixin of ``MainWindow``: each action calls ``Session`` (long work as a job on the lane)
or the GUI thread's ``Workspace`` for quick reads, reviews and drafts, and reports
failures in an error dialog that says what to do.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt

from app import file_dialogs
from app.dialogs.import_dialog import ImportDialog, imported_text
from app.errors import error_box, is_user_error
from app.jobs import Job
from app.ledger_views import QueueView, read_facts_and_undo, read_queue
from app.widgets.job_follow import queued_for
from app.window_history import HistoryActions
from app.window_review import ReviewActions
from core import (
    Fact,
    LedgerError,
    LoadOptions,
    SamplingOptions,
    compute_statistics,
    context_checker,
    continuation_with_room,
    demo_edits_file,
    suggest_locality,
    suggest_old_answer,
)

log = logging.getLogger(__name__)


class WindowActions(ReviewActions, HistoryActions):
    # -- model and workspace -------------------------------------------------------------

    def load(self, path: Path, options: LoadOptions | None = None, workspace: Path | None = None) -> Job:
        self.prompt_panel.set_ready(False)
        self.model_panel.set_folder(Path(path))
        job = self.session.load_model(Path(path), options, workspace)
        # a refused load leaves the model that was loaded: its prompts work again (trial 42), and the
        # panel names its folder again, not the refused one (trial 43; the error box quotes that)
        job.finished.connect(lambda: self.prompt_panel.set_ready(self.session.lm is not None))
        job.failed.connect(lambda _exc: self.session.lm is not None and self.model_panel.set_folder(
            Path(self.session.lm.info.path)))
        return self._report_failure(job, f"Could not load {path}")

    def load_model_folder(self, path: Path) -> Job:
        return self.load(path, self.model_panel.options())

    def choose_model_folder(self) -> None:
        chosen = file_dialogs.existing_directory(self, "Open a model folder", str(self.model_path))
        if chosen:
            self.load_model_folder(Path(chosen))

    def eject(self) -> None:
        self.session.eject()

    def open_workspace(self, path: Path) -> Job:
        return self._report_failure(self.session.open_workspace(path), f"Could not open workspace {path}")

    def choose_workspace(self) -> None:
        chosen = file_dialogs.open_file_name(self, "Open workspace", "", "Workspaces (*.factsmith);;All (*)")
        if chosen:
            self.open_workspace(Path(chosen))

    def choose_new_workspace(self) -> None:
        chosen = file_dialogs.save_file_name(self, "New workspace for the loaded model", "", "Workspaces (*.factsmith)")
        if chosen:
            self.create_workspace(Path(chosen))

    def create_workspace(self, path: Path) -> Job | None:
        try:
            job = self.session.create_workspace(path)
        except RuntimeError as exc:
            self.show_error("No model loaded", exc)
            return None
        return self._report_failure(job, f"Could not create workspace {path}")

    def _on_model_changed(self, lm) -> None:
        self.model_panel.show_model(lm)
        self._check_context_of(lm)
        self.method_panel.set_model(lm)
        self.prompt_panel.set_ready(lm is not None)
        self.preview_panel.preview_button.setEnabled(lm is not None)
        self.editor.set_model_ready(lm is not None)
        self.model_panel.update_estimate()
        self._update_live_status()

    def _check_context_of(self, lm) -> None:
        """The fact editor checks prompts against this model's context as the reviewer types, with a
        tokenizer of its own (made once per loaded tokenizer: the worker may be using the model's)."""
        if lm is None or lm.tokenizer is not getattr(self, "_context_of", None):
            self._context_of = lm.tokenizer if lm is not None else None
            try:
                self.editor.context_check = context_checker(lm) if lm is not None else None
            except Exception:  # a tokenizer that cannot be copied: Preview still says it, later
                log.warning("the fact editor cannot check prompt lengths for this model", exc_info=True)
                self.editor.context_check = None
            self.editor.validate()

    def _update_live_status(self) -> None:
        """The essentials on the line (model · device · commit), the whole story in its tooltip."""
        lm, commit, ws = self.session.lm, self.session.live_commit, self.session.ws
        if lm is None:
            self.live_status.setText("No model loaded")
            return
        head = self.session.head() if ws else None
        where = f" · workspace {ws.path.name}" if ws else ""
        full = f"{lm.info.name} on {lm.info.device} ({lm.info.dtype}){self._live_commit_text(commit, head)}{where}"
        self.live_status.setText(f"{lm.info.name} · {lm.info.device}{self._live_commit_short(commit, head)}", full)
        self.live_status.updateGeometry()  # its natural width changed

    @staticmethod
    def _live_commit_text(commit, head) -> str:
        """Which commit the live model holds: HEAD, or a checked-out older one (said plainly)."""
        if commit is None:
            return ""
        head = head or commit
        if head.id == commit.id:
            return f" · at HEAD, commit {commit.short_id} ({commit.message})"
        return f" · at checked-out commit {commit.short_id} ({commit.message}), not HEAD {head.short_id}"

    @staticmethod
    def _live_commit_short(commit, head) -> str:
        if commit is None:
            return ""
        if head is None or head.id == commit.id:
            return f" · HEAD {commit.short_id}"
        return f" · commit {commit.short_id} (not HEAD)"

    def _on_workspace_changed(self, ws) -> None:
        self.setWindowTitle(f"Factsmith — {ws.path.name}")
        self._draft_id = None
        drafts = ws.drafts()
        mine = [d for d in drafts if d.author == ws.author]
        if mine:
            self._draft_id = mine[0].id
            self.editor.set_body(mine[0].body)

    def refresh_queue(self, view: QueueView | None = None) -> None:
        """Show the queue as a job read it (``view``), else as read here."""
        ws = self.session.ws
        if ws is None:
            return
        view = view if view is not None else read_queue(ws)
        if view.partial:
            self.queue.update_facts(view.facts, view.decisions)
        else:
            self.queue.set_facts(view.facts, view.runs, view.reverted, view.decisions, view.to_commit, view.fallen)
        self.review_bar.set_undo(view.undo, view.undo_blocked)

    def _subjects(self, fact_ids) -> str:
        names = [self.session.ws.fact(i).fact.subject for i in fact_ids[:3]]
        return ", ".join(names) + (f" and {len(fact_ids) - 3} more" if len(fact_ids) > 3 else "")

    def open_in_editor(self, fact_id: str) -> None:
        """A queued fact in the fact editor, to fix it and add (then preview) the corrected one."""
        record = self.session.ws.fact(fact_id)
        self.flush_draft()
        self.editor.set_body(record.fact.to_dict())
        self.tabs.setCurrentWidget(self.editor)
        self.editor.fields["target_new"].setFocus()
        self.notify(f"Editing {record.fact.subject}: Add to queue adds the corrected fact, then preview it")

    # -- facts: import, editor, drafts, suggestions -------------------------------------

    def open_import_dialog(self) -> ImportDialog:
        ws = self.session.ws
        known = frozenset(r.fact.id for r in ws.queue()) if ws is not None else frozenset()
        dialog = ImportDialog(None, self, example=demo_edits_file(), context_check=self.editor.context_check,
                              known_ids=known)
        dialog.accepted.connect(lambda: self.import_facts(*dialog.choice(), skip_invalid=dialog.skips_invalid()))
        dialog.open()
        return dialog

    def import_facts(self, path: Path, format: str | None = None, mapping: dict | None = None,
                     skip_invalid: bool = False) -> Job | None:
        if self.session.ws is None:
            self.show_error("No workspace", LedgerError("load a model first: its workspace opens with it"))
            return None
        job = self.session.import_file(path, format, mapping, skip_invalid=skip_invalid)
        # the counts first: an elided status line keeps them, the file name goes (the tooltip has all)
        job.succeeded.connect(lambda report: self.notify(imported_text(report), 10000))
        return self._report_failure(job, f"Could not import {Path(path).name}")

    def new_fact(self) -> None:
        self.tabs.setCurrentWidget(self.editor)
        self.editor.fields["subject"].setFocus()

    def save_draft(self, body: dict) -> None:
        if self.session.ws is None or (self._draft_id is None and self.editor.is_empty()):
            return
        self._draft_id = self.session.ws.save_draft(body, self._draft_id).id

    def discard_draft(self) -> None:
        if self.session.ws is not None and self._draft_id is not None:
            self.session.ws.delete_draft(self._draft_id)
        self._draft_id = None

    def flush_draft(self) -> None:
        if self.editor._draft_timer.isActive():
            self.editor._draft_timer.stop()
            self.save_draft(self.editor.body())

    def add_fact(self, fact: Fact) -> None:
        try:
            report = self.session.ws.add_facts([fact])
        except (LedgerError, AttributeError) as exc:
            self.show_error("Could not add the fact", exc)
            return
        self.discard_draft()
        self.editor.clear()
        self.session.facts_changed.emit(read_facts_and_undo(self.session.ws, [fact.id]))
        self.queue.select([fact.id])
        self.queue.table.setFocus(Qt.FocusReason.OtherFocusReason)  # not the next field in the tab chain
        self.notify("Added the fact to the queue" if report.added else
                                     "That fact is already in the queue", 6000)

    def suggest(self, body: dict) -> Job | None:
        lm, ws = self.session.lm, self.session.ws
        if lm is None or ws is None:
            return None
        queue = ws.queue()
        others = [record.fact for record in queue]
        # edits planned, not yet in HEAD: their answers will change; a committed one's prompts are
        # offered only where the live model gives its new answer
        edited = [record.fact for record in queue if record.status != "rejected" and not record.committed]
        committed = [record.fact for record in queue if record.committed]
        existing = [p["prompt"] for p in body.get("locality", [])]

        def work(_progress):
            old = suggest_old_answer(lm, body.get("prompt", ""))
            probes = suggest_locality(body.get("subject", ""), body.get("prompt", ""), body.get("relation", ""),
                                      others, existing=existing, lm=lm, edited=edited, committed=committed)
            return old, probes

        job = self.lane.submit("Suggesting", work)
        job.succeeded.connect(lambda result: self.editor.apply_suggestion(*result))
        return self._report_failure(job, "Could not suggest")

    # -- method, preview, review ---------------------------------------------------------

    def compute_statistics(self, specs: list) -> Job | None:
        lm = self.session.lm
        if lm is None or not specs:
            return None
        job = self.lane.submit("Computing covariance statistics", lambda p: compute_statistics(lm, specs, p))
        job.finished.connect(self.method_panel.update_stats_status)
        return self._report_failure(job, "Could not compute the statistics")

    def preview_selected(self, free_prompts: list[str] | None = None) -> Job | None:
        """Compute the chosen method's edit of the selected facts (a batch if several)."""
        ids = self.queue.selected_ids()
        if not ids:
            self.preview_panel.state.setText("Select one or more facts in the queue first")
            return None
        if missing := self.method_panel.missing_editor():  # said here, in the window's words, not as a failure
            self.preview_panel.state.setText(missing)
            return None
        try:
            self.method_panel.hparams()  # a bad value is reported before anything runs
            job = self.session.preview(ids, self.method_panel.method_name(), self.method_panel.overrides(),
                                       self.preview_panel.prompts() if free_prompts is None else free_prompts)
        except (ValueError, RuntimeError, LedgerError) as exc:
            self.show_error("Cannot preview", exc)
            return None
        self.tabs.setCurrentIndex(0)
        self._running_preview = f"{self.method_panel.method_name()} preview of {self._subjects(ids)}"
        self.preview_panel.track(job)
        self.preview_panel.showing.setText(f"Showing: {self._running_preview} — "
                                           f"{'queued' if job.behind else 'running'}…")
        if job.behind:
            self.notify(f"The preview is queued: it {queued_for(job)}")
            running = f"Showing: {self._running_preview} — running…"
            job.started.connect(lambda: self.preview_panel.showing.setText(running))
        job.finished.connect(self.method_panel.update_stats_status)  # the preview may have computed them
        job.finished.connect(lambda: self.show_selected_run() if job.state.value == "done"
                             else self._stored_run_again(job.state.value))
        return self._report_failure(job, "The preview failed")

    def _stored_run_again(self, how: str) -> None:
        """A preview cancelled or failed: the selected fact's stored run shows again, if it has one
        (trial 37: the pane stayed empty, as if the fact had never been previewed)."""
        ids = self.queue.selected_ids()
        if ids and self._run_to_show(ids[0], len(ids) == 1) is not None:
            self.show_selected_run(ids)
            self.preview_panel.showing.setText(f"{self.preview_panel.showing.text()} (the new preview {how})")

    def generate(self, prompt: str, max_new_tokens: int = 12) -> Job | None:
        lm = self.session.lm
        if lm is None:
            return None
        options = SamplingOptions(max_new_tokens=max_new_tokens)
        live = self.session.live_commit
        state = f"commit {live.short_id}" if live is not None else ""
        job = self.lane.submit("Generating", lambda progress: continuation_with_room(lm, prompt, options))
        job.succeeded.connect(lambda text: self.prompt_panel.show_result(prompt, text, state))
        return self._report_failure(job, "Generation failed")

    # -- errors --------------------------------------------------------------------------

    def _report_failure(self, job: Job, title: str) -> Job:
        job.failed.connect(lambda exc: self.show_error(title, exc))
        return job

    def show_error(self, title: str, exc: BaseException) -> None:
        """A non-blocking dialog that says what happened and what to do; the status bar keeps a
        concise line and the log file the details (the terminal stays quiet)."""
        log.info("reported to the user: %s: %s", title, exc)
        self.last_error = error_box(self, title, exc)
        first = (str(exc) or type(exc).__name__).splitlines()[0]
        # bad input is said whole in the box; a fault's traceback is in the log file
        pointer = "" if is_user_error(exc) else " (details: Help → Open log)"
        self.notify(f"{title}: {first}{pointer}", 15000)
