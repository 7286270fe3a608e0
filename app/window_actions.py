"""The main window's actions on the model, the queue, the editor and the preview.

A mixin of ``MainWindow``: each action calls ``Session`` (long work as a job on the lane)
or the GUI thread's ``Workspace`` for quick reads, reviews and drafts, and reports
failures in an error dialog that says what to do.
"""

from __future__ import annotations

import logging
from html import escape
from pathlib import Path

from PySide6.QtCore import Qt

from app import file_dialogs
from app.dialogs.import_dialog import ImportDialog
from app.errors import error_box
from app.jobs import Job
from app.ledger_views import QueueView, read_facts_and_undo, read_queue, undo_state
from app.window_history import HistoryActions
from core import (
    Fact,
    LedgerError,
    LoadOptions,
    SamplingOptions,
    compute_statistics,
    continuation,
    demo_edits_file,
    suggest_locality,
    suggest_old_answer,
)

log = logging.getLogger(__name__)


class WindowActions(HistoryActions):
    _running_preview = "a preview"
    # -- model and workspace -------------------------------------------------------------

    def load(self, path: Path, options: LoadOptions | None = None, workspace: Path | None = None) -> Job:
        self.prompt_panel.set_ready(False)
        self.model_panel.set_folder(Path(path))
        job = self.session.load_model(Path(path), options, workspace)
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
        self.method_panel.set_model(lm)
        self.prompt_panel.set_ready(lm is not None)
        for widget in (self.preview_panel.preview_button, self.editor.suggest_button):
            widget.setEnabled(lm is not None)
        self.model_panel.update_estimate()
        self._update_live_status()

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
            self.queue.set_facts(view.facts, view.runs, view.reverted, view.decisions)
        self.review_bar.set_undo(view.undo, view.undo_blocked)

    def show_selected_run(self, ids: list[str] | None = None) -> None:
        """The preview pane follows the selection: the first selected fact's latest run, as
        stored (no recompute), or a note that it has none. A running preview keeps the pane."""
        ws = self.session.ws
        if ws is None:
            return
        ids = self.queue.selected_ids() if ids is None else ids
        if self.preview_panel.job is not None:  # the pane shows the running preview, and says so
            self.preview_panel.showing.setText(f"Showing: {self._running_preview} — running… "
                                               "(the selected fact's preview shows when it ends)")
            return
        run = self.queue.model.latest_run(ids[0]) if ids else None
        if run is None:
            self.preview_panel.clear_result("No preview of the selected fact yet: Preview edit (Ctrl+P)" if ids
                                            else "Select one or more facts, then preview")
            if ids:
                self._say_decision(ids[0])
            return
        held = self.session.live_commit is not None and run.id in self.session.live_runs()
        applied, dropped = ws.run_commits(run.id)  # that run's own history, not the fact's
        self.preview_panel.show_run(run, applied.short_id if applied else None,
                                    reverted_in=dropped.short_id if dropped else None)
        self._say_showing(run)
        self._say_decision(ids[0], run)
        if not held:
            self._say_stale(run)

    def _say_decision(self, fact_id: str, run=None) -> None:
        """The review decision on the selected fact, its note, and the run it was made on."""
        decision = self.queue.model.decision(fact_id)
        if decision is None:
            return
        decided = self.queue.model.decided_run(fact_id)
        on = f"run {decided.id} ({decided.method.upper()})" if decided else "no run"
        shown_here = run is None or (decided is not None and decided.id == run.id)
        other = "" if shown_here else f", made on {on}, not this run"
        note = f": “{escape(decision.note)}”" if decision.note else ""
        self.preview_panel.showing.setText(f"{self.preview_panel.showing.text()}<br>{decision.to_status.capitalize()} "
                                           f"by {escape(decision.author)}{other}{note}")

    def _say_stale(self, run) -> None:
        """A run computed on another state than HEAD: its numbers are not its effect on HEAD."""
        stale = self.session.ws.stale_runs([run])
        if run.id not in stale:
            return
        on, head = stale[run.id], self.session.ws.head()
        self.preview_panel.showing.setText(
            f"{self.preview_panel.showing.text()}<br><b style='color:#b36b00'>Computed on "
            f"{'commit ' + on.short_id if on else 'another model state'}, HEAD is now {head.short_id} — preview "
            "again to see its effect on the current model</b>")

    def _say_showing(self, run) -> None:
        """Which run the pane shows, and the method that made it when the panel names another."""
        chosen = self.method_panel.method_name()
        other = (f" — <b style='color:#b36b00'>made with {run.method.upper()}; the method panel is set to "
                 f"{chosen.upper()}</b>" if chosen != run.method else "")
        self.preview_panel.showing.setText(f"Showing: run {run.id} ({run.method.upper()}) of "
                                           f"{escape(self._subjects(run.fact_ids))}, as stored{other}"
                                           f"{auto_layer_note(run)}")

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
        dialog = ImportDialog(None, self, example=demo_edits_file())
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
        job.succeeded.connect(lambda report: self.notify(
            f"Imported {len(report.added)} facts ({len(report.duplicates)} already there, "
            f"{len(report.conflicts)} conflicts"
            + (f", {len(report.skipped)} invalid rows skipped (recorded)" if report.skipped else "")
            + f") from {Path(report.source).name} ({report.format})", 10000))
        return self._report_failure(job, f"Could not import {Path(path).name}")

    def new_fact(self) -> None:
        self.tabs.setCurrentWidget(self.editor)
        self.editor.fields["subject"].setFocus()

    def save_draft(self, body: dict) -> None:
        if self.session.ws is None or (self._draft_id is None and self.editor.is_empty()):
            return
        self._draft_id = self.session.ws.save_draft(body, self._draft_id).id

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
        if self._draft_id is not None:
            self.session.ws.delete_draft(self._draft_id)
            self._draft_id = None
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
        others = [record.fact for record in ws.queue()]
        existing = [p["prompt"] for p in body.get("locality", [])]

        def work(_progress):
            old = suggest_old_answer(lm, body.get("prompt", ""))
            probes = suggest_locality(body.get("subject", ""), body.get("prompt", ""), body.get("relation", ""),
                                      others, existing=existing, lm=lm)
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
        self.preview_panel.showing.setText(f"Showing: {self._running_preview} — running…")
        job.finished.connect(self.method_panel.update_stats_status)  # the preview may have computed them
        job.finished.connect(lambda: None if job.state.value != "done" else self.show_selected_run())
        return self._report_failure(job, "The preview failed")

    def review_selected(self, decision: str, note: str = "") -> bool:
        ids = self.queue.selected_ids()
        if not ids or self.session.ws is None:
            self.review_bar.message.setText("Select the facts to review in the queue")
            return False
        unrun = [i for i in ids if self.queue.model.latest_run(i) is None]
        if decision == "approve" and unrun:  # a commit could not include it: it has no edit to apply
            text = (f"Preview first: {escape(self._subjects(unrun))} has no preview run, so no edit to commit "
                    "— Preview edit (Ctrl+P), then approve")
            self.review_bar.message.setText(f"<span style='color:#a33'>{text}</span>")
            self.review_bar.message.setToolTip(text)
            return False
        runs = [self.queue.model.latest_run(i) for i in ids]  # read before the queue updates
        try:
            self.session.review(ids, decision, note)
        except LedgerError as exc:
            self.show_error("Could not record the review", exc)
            return False
        text = f"{decision}: {len(ids)} fact(s){self._approved_runs(decision, runs)}"
        self.review_bar.message.setText(text)
        self.review_bar.message.setToolTip(text)  # the whole of it, where one line cuts it off
        return True

    def _approved_runs(self, decision: str, runs) -> str:
        """Which edits an approval takes (each fact's latest run; facts previewed together share
        one), flagged when the method panel names another method, whose edit a reviewer may have
        meant (trial 32)."""
        if decision != "approve":
            return ""
        unique = list({r.id: r for r in runs}.values())
        named = ", ".join(f"run {r.id} ({r.method.upper()})" for r in unique[:3]) + ("…" if len(unique) > 3 else "")
        chosen = self.method_panel.method_name()
        if all(r.method == chosen for r in unique):
            return f", {named}"
        return f", {named} — <b style='color:#b36b00'>not {chosen.upper()}: preview with it to approve its edit</b>"

    def undo_review(self) -> None:
        self._update_undo()
        if self.review_bar.undo_blocked:  # committed: said plainly, never core's message with a hash
            self.review_bar.message.setText(f"Nothing to undo: {escape(self.review_bar.undo_blocked)}")
            return
        what, _ = undo_state(self.session.ws)
        try:
            self.session.undo_review()  # its queue update names the next decision to undo
        except LedgerError as exc:
            self.show_error("Nothing to undo", exc)
            self._update_undo()
            return
        self.review_bar.message.setText(f"Undone: {escape(what)}" if what else "")  # not the undone decision's note

    def say_review(self, ids: list[str]) -> None:
        """On a new selection the review line describes the selected facts, never the last action's
        note or a refusal about another fact (Undo names the decision it would undo, whichever fact)."""
        bar, ws = self.review_bar, self.session.ws
        bar.message.setToolTip("")
        if ws is None or not ids:
            bar.message.setText("")
            return
        if len(ids) > 1:
            bar.message.setText(f"{len(ids)} facts selected")
            return
        decision = self.queue.model.decision(ids[0])
        said = f"{decision.to_status} by {decision.author}" if decision else "no review decision yet"
        bar.message.setText(escape(f"{self._subjects(ids)}: {said}"))

    def _update_undo(self) -> None:
        """The Undo button names the decision it would undo (this author's latest one left)."""
        ws = self.session.ws
        self.review_bar.set_undo(*(undo_state(ws) if ws is not None else (None, None)))

    def generate(self, prompt: str, max_new_tokens: int = 12) -> Job | None:
        lm = self.session.lm
        if lm is None:
            return None
        options = SamplingOptions(max_new_tokens=max_new_tokens)
        job = self.lane.submit("Generating", lambda progress: continuation(lm, prompt, options))
        job.succeeded.connect(lambda text: self.prompt_panel.show_result(prompt, text))
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
        self.notify(f"{title}: {first} (details: Help → Open log)", 15000)


def auto_layer_note(run) -> str:
    """What layer auto chose for a run, and plainly when no trace was meaningful."""
    choice = (getattr(run, "environment", None) or {}).get("auto_layer")
    if not choice:
        return ""
    if choice.get("layer") is None:
        return " — layer auto: no meaningful trace, so the preset's layer was used"
    return f" — layer auto: traced layer {choice['layer']}"
