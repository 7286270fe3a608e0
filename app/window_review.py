"""The main window's review: which run the preview shows, and the decisions on the selected facts.

A mixin of ``MainWindow``. The preview follows the selection (the first selected fact's latest
run, or the one picked under Run:); Approve approves the run shown when one fact is selected,
each fact's latest run otherwise.
"""

from __future__ import annotations

from html import escape

from app.ledger_views import undo_state
from core import LedgerError


class ReviewActions:
    _running_preview = "a preview"

    def show_selected_run(self, ids: list[str] | None = None, run_id: int | None = None) -> None:
        """The preview pane follows the selection: the first selected fact's latest run (or the
        one picked under Run:), as stored (no recompute), or a note that it has none. A running
        preview keeps the pane."""
        ws = self.session.ws
        if ws is None:
            return
        ids = self.queue.selected_ids() if ids is None else ids
        if self.preview_panel.job is not None:  # the pane shows the running preview, and says so
            self.preview_panel.showing.setText(f"Showing: {self._running_preview} — running… "
                                               "(the selected fact's preview shows when it ends)")
            return
        if len(ids) == 1 and run_id is not None:
            self.preview_panel.run_choice.pick(ids[0], run_id)
        run = self._run_to_show(ids[0], len(ids) == 1) if ids else None
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
        self._offer_runs(ids, run)

    def _offer_runs(self, ids: list[str], run) -> None:
        """Run: lists the fact's runs when one fact is selected (with several, Approve takes each
        fact's latest, so none is offered and a pick is dropped); its approved run is marked."""
        choice = self.preview_panel.run_choice
        if len(ids) > 1:
            choice.clear()
            return
        decision = self.queue.model.decision(ids[0])
        decided = self.queue.model.decided_run(ids[0]) if decision and decision.to_status == "approved" else None
        choice.set_runs(self.queue.model.runs_of(ids[0]), run.id, decided.id if decided else None)

    def _run_to_show(self, fact_id: str, alone: bool):
        """The run picked for the fact under Run: (when it is selected alone), else its latest."""
        picked = self.preview_panel.run_choice.picked_for(fact_id if alone else "")
        runs = {run.id: run for run in self.queue.model.runs_of(fact_id)}
        return runs.get(picked) or self.queue.model.latest_run(fact_id)

    def _say_decision(self, fact_id: str, run=None) -> None:
        """The review decision on the selected fact, its note, and the run it was made on."""
        decision = self.queue.model.decision(fact_id)
        if decision is None:
            return
        decided = self.queue.model.decided_run(fact_id)
        on = f"run {decided.id} ({decided.method.upper()})" if decided else "no run"
        shown_here = run is None or (decided is not None and decided.id == run.id)
        other = "" if shown_here else f", made on {on}, not this run"
        model = self.queue.model
        record = model.fact(model.row_of(fact_id)) if model.row_of(fact_id) >= 0 else None
        if not shown_here and record is not None and model.reapplied_by(record) == run.id:
            other = f", made on {on}; that edit was reverted, and a commit takes this run in its place"
        elif (not shown_here and decided is not None and run is model.latest_run(fact_id)
              and (run.environment or {}).get("recomputed_from") == decided.id):
            other = f", made on {on}; this run computes it again after a revert, and the approval carries over"
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
            f"{'commit ' + on.short_id if on else 'another model state'}, HEAD is now {head.short_id} — "
            f"{self.stale_advice([run])} to see its effect on HEAD</b>")

    def stale_advice(self, runs) -> str:
        """What makes stale runs current: with an older commit checked out into the live model,
        previewing again computes on that commit again, so the advice is to check out HEAD first."""
        live, head = self.session.live_commit, self.session.ws.head()
        if live is not None and live.state_fingerprint != head.state_fingerprint and runs:
            return (f"the model holds commit {live.short_id}, checked out: check out HEAD ({head.short_id}) into the "
                    "model (History → Checkout into model…), then preview again")
        return "preview again"

    def _say_showing(self, run) -> None:
        """Which run the pane shows, and the method that made it when the panel names another."""
        chosen = self.method_panel.method_name()
        other = (f" — <b style='color:#b36b00'>made with {run.method.upper()}; the method panel is set to "
                 f"{chosen.upper()}</b>" if chosen != run.method else "")
        self.preview_panel.showing.setText(f"Showing: run {run.id} ({run.method.upper()}) of "
                                           f"{escape(self._subjects(run.fact_ids))}, as stored{other}"
                                           f"{auto_layer_note(run)}")

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
        shown = self.preview_panel.run
        run_id = shown.id if decision == "approve" and len(ids) == 1 and shown and ids[0] in shown.fact_ids else None
        runs = {run.id: run for i in ids for run in self.queue.model.runs_of(i)}  # read before the queue updates
        try:
            changes = self.session.review(ids, decision, note, run_id)
        except LedgerError as exc:
            self.show_error("Could not record the review", exc)
            return False
        approved = [runs[c.run_id] for c in changes if c.run_id in runs]  # as core recorded them
        picked = self.preview_panel.run_choice.picked_for(ids[0]) if run_id is not None else None
        pickable = any(run.method == self.method_panel.method_name() for run in runs.values())
        text = f"{decision}: {len(ids)} fact(s){self._approved_runs(decision, approved, picked, pickable)}"
        self.review_bar.message.setText(text)
        self.review_bar.message.setToolTip(text)  # the whole of it, where one line cuts it off
        return True

    def _approved_runs(self, decision: str, runs, picked: int | None = None, pickable: bool = True) -> str:
        """Which edits an approval takes (the run shown, or each fact's latest; facts previewed
        together share one), flagged when the method panel names another method, whose edit a
        reviewer may have meant (trial 32); not when the run taken is the one ``picked`` under Run:
        on purpose (trial 43: the warning read like a failure); said without alarm when the facts
        have no run of the panel's method to pick instead (trial 44)."""
        if decision != "approve":
            return ""
        if not runs:  # its only runs were committed and reverted since
            return (", <b style='color:#b36b00'>no run to commit (its edit was reverted): preview it again</b>")
        unique = list({r.id: r for r in runs}.values())
        named = ", ".join(f"run {r.id} ({r.method.upper()})" for r in unique[:3]) + ("…" if len(unique) > 3 else "")
        chosen = self.method_panel.method_name()
        if all(r.method == chosen for r in unique) or [r.id for r in unique] == [picked]:
            return f", {named}"
        if not pickable:
            return (f", {named} <span style='color:#666'>(no {chosen.upper()} run of it: preview with "
                    f"{chosen.upper()} to approve its edit instead)</span>")
        return (f", {named} — <b style='color:#b36b00'>not {chosen.upper()}: pick its run under Run: (or preview "
                "with it) to approve its edit</b>")

    def undo_review(self) -> None:
        self._update_undo()
        if self.review_bar.undo_blocked:  # committed: said plainly, never core's message with a hash
            text = f"Nothing to undo: {self.review_bar.undo_blocked}"
            self.review_bar.message.setText(escape(text))
            self.review_bar.message.setToolTip(text)  # the whole of it, where the line cuts it off
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


def auto_layer_note(run) -> str:
    """What layer auto chose for a run, and plainly when no trace was meaningful."""
    choice = (getattr(run, "environment", None) or {}).get("auto_layer")
    if not choice:
        return ""
    if choice.get("layer") is None:
        return " — layer auto: no meaningful trace, so the preset's layer was used"
    return f" — layer auto: traced layer {choice['layer']}"
