"""The main window's actions on commits: commit, history, diff, revert, checkout, tags, export."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QInputDialog, QMessageBox

from app import file_dialogs
from app.dialogs.commit_dialog import CommitDialog
from app.dialogs.export_dialog import ExportDialog
from app.dialogs.patch_apply_dialog import PatchApplyDialog
from app.errors import confirm_box
from app.history_texts import exported_text, ref_label, runs_text, way_on
from app.jobs import Job
from app.ledger_views import HistoryView
from app.slots import no_result
from app.widgets.history_panel import (
    built_on_dropped_text,
    detail_html,
    diff_html,
    fell_on_rebuild,
    fell_on_rebuild_text,
    recompute_label,
)
from core import DEFAULT_THRESHOLDS, CommitRefused, LedgerError, patch_held_text

THRESHOLD_METRICS = tuple(DEFAULT_THRESHOLDS)  # the metrics core's commit gate checks
SAVED_MODELS_KEY = "history/model_folders"  # where the last commit was saved as a model folder
LISTED_EDITS = 10  # a box about a commit of hundreds of edits names this many, then says how many more


class HistoryActions:
    # -- commit --------------------------------------------------------------------------

    def open_commit_dialog(self) -> CommitDialog | None:
        ws = self.session.ws
        if ws is None:
            return None
        runs = ws.commit_candidates()
        facts = {r.id: r.fact for r in self.queue.model.records() if r.status == "approved"}  # as shown
        thresholds = {m: self.settings.threshold(m) for m in THRESHOLD_METRICS}
        left_out = ws.left_out()  # every approved fact the commit leaves out, with its run if it has one
        unrun = [item.fact_id for item in left_out]
        shared = {item.fact_id: item for item in left_out if item.run_id is not None}
        blockers = {b.fact_id for item in shared.values() for b in item.blockers}
        facts.update({fact_id: ws.fact(fact_id).fact for fact_id in {*unrun, *blockers} - facts.keys()})
        head, stale = ws.head(), ws.stale_runs(runs)
        stale_text = {run_id: f"computed on {'commit ' + on.short_id if on else 'another state'}, HEAD is "
                              f"{head.short_id}" for run_id, on in stale.items()}
        reverted = {fact_id: commit.short_id for fact_id, commit in ws.reverted_facts().items()}
        dialog = CommitDialog(runs, facts, thresholds, self, unrun=unrun, stale=stale_text, reverted=reverted,
                              shared=shared, stale_advice=self.stale_advice([r for r in runs if r.id in stale]))
        dialog.accepted.connect(lambda: self._commit_from(dialog))
        dialog.open()
        return dialog

    def _commit_from(self, dialog: CommitDialog) -> None:
        for metric, value in dialog.threshold_values().items():
            self.settings.set_threshold(metric, value)
            self.preview_panel.metrics.thresholds[metric] = value
        self.commit(dialog.message.text(), dialog.run_ids(), force=dialog.needs_force())

    def commit(self, message: str, run_ids: list[int] | None = None, force: bool = False,
               measured=None) -> Job | None:
        """Commit through core's commit gate at the reviewer's thresholds; ``force`` is recorded;
        ``measured``: the figures a refused attempt measured, for "Commit anyway" to reuse."""
        thresholds = {m: self.settings.threshold(m) for m in THRESHOLD_METRICS}
        try:
            job = self.session.commit(message, run_ids or None, thresholds=thresholds, force=force,
                                      measured=measured)
        except RuntimeError as exc:
            self.show_error("Cannot commit", exc)
            return None
        job.succeeded.connect(lambda state: self.notify(
            f"Committed {state.commit.short_id}: {len(state.commit.applied)} edit(s)"
            + (", forced past the commit gate (recorded)" if state.commit.forced else ""), 10000))
        if force:
            return self._report_failure(job, "The commit failed")
        job.failed.connect(lambda exc: self._commit_refused(exc, message, run_ids))
        return job

    def _commit_refused(self, exc: BaseException, message: str, run_ids: list[int] | None) -> None:
        """A refusal only the edits together caused, which the commit dialog could not show
        (core.workflows.together): say which edit fell and offer a commit recorded as forced."""
        warnings = exc.gate.warnings if isinstance(exc, CommitRefused) else ()
        if not warnings or not all(w.together for w in warnings):  # the dialog had shown the others
            self.show_error("The commit failed", exc)
            return
        ws = self.session.ws
        landing = exc.together.run_ids if exc.together is not None else ()
        fell = {w.run_id for w in warnings}
        # each edit that fell by its facts: it may be one HEAD already held, listed nowhere else (trial 46)
        found = "\n".join(f"• run {r} ({ws.run(r).method}: {self._run_facts(ws.run(r))}): "
                          + ", ".join(str(w) for w in exc.gate.for_run(r)) for r in sorted(fell)[:LISTED_EDITS])
        found += f"\n… and {len(fell) - LISTED_EDITS} more" if len(fell) > LISTED_EDITS else ""
        shown = sorted(landing, key=lambda r: r not in fell)[:LISTED_EDITS]  # the edits that fell first
        edits = "\n".join(f"• run {r} ({ws.run(r).method}): {self._run_facts(ws.run(r))}" for r in shown)
        if len(landing) > len(shown):
            edits += f"\n… and {len(landing) - len(shown)} more"
        self.last_confirm = confirm_box(
            self, "Measured together, an edit no longer holds",
            f"Measured together on HEAD, some edits no longer hold:\n{found}\n\nThis commit's edits:\n{edits}\n\n"
            f"Commit anyway? The commit records that it was forced. Otherwise {way_on(len(landing))}",
            lambda: self.commit(message, run_ids, force=True, measured=exc.together),
            yes_text="Commit anyway")

    # -- history -------------------------------------------------------------------------

    def refresh_history(self, view: HistoryView | None = None) -> None:
        """Show the history as a job read it (``view``), else as read here."""
        if self.session.ws is None:
            return
        view = view if view is not None else self.session.read_history()
        live = self.session.live_commit.id if self.session.live_commit else None
        self.history.set_history(view.commits, view.tags, live)
        self.history.set_drift(view.points)

    def show_commit(self, commit_ids: list[str]) -> None:
        if not commit_ids:
            self.history.show_hint()  # nothing selected: no stale commit shown
        if len(commit_ids) == 1 and self.session.ws is not None:
            detail = self.session.ws.show(commit_ids[0])
            found = self.session.ws.built_on_dropped(detail.commit)  # {} at once for a commit that drops nothing
            self.history.details.setHtml(detail_html(detail, self._review_notes(detail), found))

    def _review_notes(self, detail) -> dict[str, str]:
        """Fact id → "reviewer: note" of the review decision each fact of the commit stands on."""
        notes = {}
        for record in detail.facts:
            decision = self.queue.model.decision(record.id)
            if decision is not None and decision.note:
                notes[record.id] = f"{decision.author}: {decision.note}"
        return notes

    def show_diff(self, a: str, b: str) -> None:
        ws = self.session.ws
        try:
            report = ws.diff(a, b)
        except LedgerError as exc:
            self.show_error("Cannot diff", exc)
            return
        facts = {r.id: r.fact for r in self.queue.model.records()}
        self.history.details.setHtml(diff_html(report, facts))

    def revert(self, commit_id: str, message: str | None = None) -> Job | None:
        """A new commit without that commit's edits (rebuilt from the base); the live model follows."""
        if message is None:
            message, ok = QInputDialog.getText(self, "Revert", self._revert_question(commit_id),
                                               text=f"Revert {commit_id[:12]}")
            if not ok or not self._has_reason(message):
                return None
        job = self.session.revert([commit_id], message)
        job.succeeded.connect(lambda state: self._reverted(
            state.commit, f"New commit {state.commit.short_id} reverts {commit_id[:12]} "
            f"({len(state.commit.dropped)} edit(s) taken out)"))
        return self._report_failure(job, f"Could not revert {commit_id[:12]}")

    def _has_reason(self, message: str) -> bool:
        """A revert is a commit and its reason is the commit's message: an empty one is said, not
        silently taken as a cancel."""
        if message.strip():
            return True
        self.show_error("Nothing reverted", ValueError("a revert needs a reason: it becomes the revert "
                                                       "commit's message. Revert again and write why."))
        return False

    def _reverted(self, commit, done: str) -> None:
        """Say what the revert did; kept edits computed with a dropped one in place are named in a
        box that stays until read (and in the commit's details), not only in the status bar."""
        found = self.session.ws.built_on_dropped(commit)
        # trial 40: History kept showing 1.00 (the figures in bulk: a large log's show is a query per run)
        fell = fell_on_rebuild(self.session.ws.state_figures(commit.id), commit.id)
        said = [fell_on_rebuild_text(fell)] if fell else []
        said += [built_on_dropped_text(found)] if found else []
        why = {(True, True): "some kept edits no longer hold, and some were computed with a reverted one in place",
               (True, False): "some kept edits no longer hold",
               (False, True): "some kept edits were computed with a reverted one in place",
               }.get((bool(fell), bool(found)))
        self.notify(done + (f": {why} (see the box)" if why else ""), 15000)
        if said:
            box = self.revert_report_box = QMessageBox(QMessageBox.Icon.Warning, "Reverted: edits to check",
                                                       "\n\n".join([f"{done}.", *said]), parent=self)
            if found:
                again = box.addButton(recompute_label(len(found)), QMessageBox.ButtonRole.ActionRole)
                again.clicked.connect(lambda: self.recompute(sorted(found)))
            box.addButton(QMessageBox.StandardButton.Close)
            box.open()

    def recompute(self, run_ids: list[int], message: str | None = None) -> Job | None:
        """Kept edits computed with a reverted one in place, taken out (a revert commit, ``message``
        its reason) and computed again on the new state with their settings (core's recompute)."""
        runs, one = runs_text(run_ids), len(run_ids) == 1
        if message is None:
            message, ok = QInputDialog.getText(
                self, "Compute again", f"{runs.capitalize()} {'is' if one else 'are'} taken out with a revert, then "
                "computed again on the state it leaves, with the same method and settings. "
                f"{'What it edits stays' if one else 'What they edit stays'} approved: review the new "
                f"{'run' if one else 'runs'}, then Commit.\n\nWhy? (the revert's message)",
                text=f"Compute {runs} again")
            if not ok or not self._has_reason(message):
                return None
        job = self.session.recompute(run_ids, message)
        job.succeeded.connect(lambda state: self._reverted(  # later edits built on these are named too
            state.commit, f"{runs.capitalize()} reverted in {state.commit.short_id} and computed again as "
            f"{runs_text([r.id for r in state.new_runs])}: review {'it' if one else 'them'}, then Commit"))
        return self._report_failure(job, f"Could not compute {runs} again")

    def _revert_question(self, commit_id: str) -> str:
        """What a revert of the commit removes (its edits, by run), then why."""
        ws = self.session.ws
        commit = ws.resolve(commit_id)
        edits = [f"• run {run_id} ({ws.run(run_id).method}): {self._run_facts(ws.run(run_id))}"
                 for run_id in commit.applied]
        removed = "\n".join(edits) if edits else "(none: this commit added no edits)"
        return (f"Revert commit {commit.short_id} ({commit.message})?\nThese edits leave the model:\n{removed}\n\n"
                "Why revert them?")

    def revert_edit(self, commit_id: str, run_id: int | None = None, message: str | None = None) -> Job | None:
        """Drop one edit (a run in that commit's state and still live in HEAD) with a new commit:
        core's ``revert run:N``."""
        ws = self.session.ws
        detail = ws.show(commit_id)
        runs = detail.runs
        if not runs:
            self.notify(f"Commit {commit_id[:12]} holds no edits to revert")
            return None
        live = {r.id for r in ws.show("HEAD").runs}
        runs = [r for r in runs if r.id in live]  # one already dropped cannot be dropped again
        if not runs:
            self.notify(f"None of commit {commit_id[:12]}'s edits is live in HEAD any more: nothing to revert")
            return None
        if run_id is None:
            labels = [f"run {r.id}: {r.method} · {self._run_facts(r)}" for r in runs]
            own = [i for i, r in enumerate(runs) if r.id in detail.commit.applied]
            # the selected commit's own edit first offered, not the state's oldest (trial 46)
            chosen, ok = QInputDialog.getItem(self, "Revert one edit", "Which edit to drop? A new commit on HEAD "
                                              "leaves it out; the other edits stay.", labels,
                                              own[-1] if own else 0, False)
            if not ok:
                return None
            run_id = runs[labels.index(chosen)].id
        if run_id not in {r.id for r in runs}:  # a caller's run that is not live: core would refuse it too
            self.notify(f"Run {run_id} is not live in HEAD: nothing to revert")
            return None
        if message is None:
            run = next(r for r in runs if r.id == run_id)
            message, ok = QInputDialog.getText(self, "Revert one edit", f"Why drop run {run_id} ({run.method} · "
                                               f"{self._run_facts(run)})?", text=f"Drop run {run_id}")
            if not ok or not self._has_reason(message):
                return None
        job = self.session.revert([f"run:{run_id}"], message)
        job.succeeded.connect(lambda state: self._reverted(
            state.commit, f"New commit {state.commit.short_id} drops run {run_id} (the other edits stay)"))
        return self._report_failure(job, f"Could not revert run {run_id}")

    def _run_facts(self, run) -> str:
        ws = self.session.ws
        return "; ".join(f"{ws.fact(i).fact.subject} → {ws.fact(i).fact.target_new}" for i in run.fact_ids)

    def checkout(self, commit_id: str, confirmed: bool = False) -> Job | None:
        """Put a commit's weights into the live model, after the reviewer confirms it."""
        live = self.session.live_commit
        if live is not None and live.id == commit_id and self.session.lm is not None:
            # offering to replace the weights with the very same ones read as a failure (trial 42)
            self.notify(f"Commit {commit_id[:12]} is the live model already; Save as model folder… writes it out")
            return None
        if not confirmed:
            commit = self.session.ws.resolve(commit_id)
            self.last_confirm = confirm_box(
                self, "Check out into the model",
                f"Replace the live model's weights with commit {commit.short_id} ({commit.message})? "
                "Previews then run against it; the app remembers it across restarts.",
                lambda: self.checkout(commit_id, confirmed=True))
            return None
        return self._report_failure(self.session.checkout(commit_id), f"Could not check out {commit_id[:12]}")

    def save_commit_folder(self, commit_id: str, out: Path | None = None) -> Job | None:
        """Write a commit as a model folder (an empty or new folder the reviewer picks): the window
        could only put a commit into the live model, a folder to share took the CLI (trial 42)."""
        if out is None:  # a name typed for a new folder (trial 43: the folder chooser refused one)
            start = self.settings.value(SAVED_MODELS_KEY, str(Path.home()))
            chosen = file_dialogs.save_file_name(
                self, f"Save commit {commit_id[:12]} as a model folder: a new folder's name", start)
            if not chosen:
                return None
            out = Path(chosen)
        job = self.session.save_commit(commit_id, Path(out))
        job.succeeded.connect(lambda done: self._saved_folder(commit_id, Path(done.out)))
        return self._report_failure(job, f"Could not write commit {commit_id[:12]}")

    def _saved_folder(self, commit_id: str, out: Path) -> None:
        self.settings.set_value(SAVED_MODELS_KEY, str(out.parent))  # the next save starts there
        self.notify(f"Wrote commit {commit_id[:12]} as a model folder: {out}", written=out)

    def tag(self, commit_id: str, name: str | None = None) -> None:
        """Tag a commit; asked for a name, a refused one is asked again with the reason and the
        name as typed (trial 42: the dialog closed and the name had to be typed anew)."""
        asked, problem = name is None, ""
        while True:
            if asked:
                question = f"Name for commit {commit_id[:12]}:" + (f"\n\n{problem}\n" if problem else "")
                name, ok = QInputDialog.getText(self, "Tag", question, text=name or "")
                if not ok or not name.strip():
                    return
            try:
                self.session.ws.tag(name.strip(), commit_id)
                break
            except LedgerError as exc:
                if not asked:
                    self.show_error("Could not tag", exc)
                    return
                problem = f"Not tagged: {exc}"
        self.refresh_history()
        self.notify(f"Tagged commit {commit_id[:12]} {name.strip()!r}: every command takes {name.strip()!r} for it")

    # -- export --------------------------------------------------------------------------

    def open_export_dialog(self) -> ExportDialog | None:
        ws = self.session.ws
        if ws is None:
            return None
        commits = ws.log()
        tags: dict[str, list[str]] = {}
        for tag in ws.tags():
            tags.setdefault(tag.commit_id, []).append(tag.name)
        refs = [(ref_label(c, tags.get(c.id, ())), c.id) for c in commits]
        folder = Path(self.settings.value("export/folder", str(Path.home())))
        dialog = ExportDialog(refs, folder, self, to_default=self._patch_to_default(commits))
        dialog.accepted.connect(lambda: self._export_from(dialog.choice()))
        dialog.open()
        return dialog

    def _patch_to_default(self, commits) -> str | None:
        """The live model's commit while it holds edits (after dropping one edit of several, an
        earlier commit would ship the dropped edit again); when it holds none (everything was
        reverted), the newest commit that does."""
        held, count = {}, 0
        for commit in sorted(commits, key=lambda c: c.seq):
            count += len(commit.applied) - len(commit.dropped)
            held[commit.id] = count
        live = self.session.live_commit
        if live is not None and held.get(live.id, 0) > 0:
            return live.id
        return next((c.id for c in sorted(commits, key=lambda c: -c.seq) if held[c.id] > 0), None)

    def _export_from(self, choice: dict) -> Job:
        self.settings.set_value("export/folder", str(Path(choice["out"]).parent))
        if choice["kind"] == "facts":
            return self.export_facts(choice["out"], choice["format"], choice["statuses"])
        return self.export_patch(choice["out"], choice["from"], choice["to"])

    def export_facts(self, out: Path, format: str = "jsonl", statuses: list[str] | None = ("approved",)) -> Job:
        job = self.session.export(Path(out), format, statuses)
        job.succeeded.connect(lambda report: self.notify(exported_text(report), written=report.path))
        return self._report_failure(job, "Could not export")

    def open_patch_apply_dialog(self) -> PatchApplyDialog:
        model = Path(self.session.lm.info.path) if self.session.lm is not None else None
        folder = Path(self.settings.value("export/folder", str(Path.home())))
        dialog = PatchApplyDialog(model, folder, self)
        dialog.apply_requested.connect(lambda choice: self.apply_patch(choice, dialog))
        dialog.open()
        return dialog

    def apply_patch(self, choice: dict, dialog: PatchApplyDialog | None = None) -> Job:
        """Apply on the job lane; a message names the signer (or says it was unsigned). From the
        dialog, a refusal shows in it (paths kept) and success closes it."""
        job = self.session.apply_patch(choice)

        def done(applied) -> None:
            who = f"signed by {applied.signer['name']}" if applied.signer else "unsigned, applied as you allowed"
            text = f"Applied {applied.edits} edit(s) ({who}); wrote {applied.out}"
            fallen, spills = any(h.fell for h in applied.held), any(h.spills for h in applied.held)
            said = "; some edits do not hold there" if fallen else ""
            said += "; other answers changed (see the box)" if spills else ""  # trial 47: said nowhere in the window
            self.notify(text + said, written=applied.out)
            if dialog is not None:
                dialog.applied()
            held = patch_held_text(applied.held)
            held = held[:1].upper() + held[1:]  # a sentence of its own in the box
            icon = QMessageBox.Icon.Warning if fallen or spills else QMessageBox.Icon.Information
            self.patch_applied_box = QMessageBox(icon, "Patch applied", f"{text}.\n\n{held}".strip(), parent=self)
            self.patch_applied_box.open()

        job.succeeded.connect(done)
        if dialog is not None:
            job.failed.connect(dialog.show_failure)
            job.finished.connect(no_result(dialog.ready))  # Apply again after a refusal or a cancel
            return job
        return self._report_failure(job, "Could not apply the patch")

    def export_patch(self, out: Path, from_ref: str, to_ref: str) -> Job:
        job = self.session.export_patch(Path(out), from_ref, to_ref)
        job.succeeded.connect(lambda info: self.notify(
            f"Wrote a patch of {info.edits} edit(s) to {info.path}", written=info.path))
        return self._report_failure(job, "Could not export the patch")
