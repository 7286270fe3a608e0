"""The method panel's "Tune preset…": a dialog chooses the facts (the selection or the queue)
and how many, then the chosen method's grid is searched on them (core's ``tune_and_save``) as
a job on the lane, with progress and cancel in the status bar; the saved preset then appears
in the panel's preset choice."""

from __future__ import annotations

import dataclasses

from PySide6.QtWidgets import QMessageBox

from app.dialogs.tune_dialog import TuneDialog
from app.jobs import Job
from core import LedgerError, TuneError, candidate_count, scores_text, split_facts, tune_and_save


def tune_preset(window, method: str | None = None) -> TuneDialog | None:
    """Ask what to tune ``method`` (default: the panel's) on, the selected facts or the whole
    queue and how many; the search starts when the reviewer says so (``start_tuning``)."""
    lm, ws, panel = window.session.lm, window.session.ws, window.method_panel
    method = method or panel.method_name()
    if lm is None or ws is None:
        window.show_error("Cannot tune", LedgerError("load a model first: its workspace holds the facts"))
        return None
    queue = [record.fact for record in ws.queue()]
    try:
        split_facts(queue)  # too few facts is said before anything runs
    except TuneError as exc:
        window.show_error("Cannot tune", exc)
        return None
    chosen = set(window.queue.selected_ids())
    dialog = TuneDialog(method, queue, [f for f in queue if f.id in chosen], candidate_count(lm, method), window)
    dialog.accepted.connect(lambda: start_tuning(window, method, dialog.facts()))
    window.last_tune_dialog = dialog
    dialog.open()
    return dialog


def start_tuning(window, method: str, facts: list) -> Job:
    """The search as a job on the lane; the panel follows it and offers the saved preset."""
    lm, panel = window.session.lm, window.method_panel
    # short: the status bar's job line reads "Tuning ft-m (40 facts): candidate 7 of 8, fact 1 of 4"
    job = window.lane.submit(f"Tuning {method} ({len(facts)} facts)",
                             lambda progress: tune_and_save(lm, method, facts, progress))
    panel.track_tune(job)  # first: the panel lists the new preset before the box offers it
    job.finished.connect(panel.update_stats_status)  # the search computed statistics (trial 46: "missing")
    job.succeeded.connect(lambda done: job.finished.connect(lambda: _report(window, *done)))
    job.cancelled.connect(lambda: window.notify("Tuning cancelled: nothing was saved", 8000))
    return window._report_failure(job, f"Tuning the {method} preset failed")


def _report(window, result, saved) -> QMessageBox:
    """A search of minutes ends in a box, not only a status line (trial 42): the figures, and
    the choice to edit with the tuned preset now; or, when it did no better than the default on
    the held-out facts and so was not saved, that (trial 44: such a preset was offered)."""
    if saved is None:
        return _report_no_better(window, result)
    text = (f"Tuned {result.method} preset saved ({len(result.candidates)} candidates tried).\n\n"
            f"{saved.summary()}.\n\n{_what_changed(saved, _defaults(window, result.method))}\n\n"
            "Edit with it now? It stays under Preset either way.")
    window.notify(f"Tuned {result.method} preset saved; it is under Preset", 15000)
    box = QMessageBox(QMessageBox.Icon.Information, "Preset tuned", text, parent=window)
    use = box.addButton("Use the tuned preset", QMessageBox.ButtonRole.AcceptRole)
    box.addButton("Not now", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(use)
    box.buttonClicked.connect(lambda button: button is use and _use_tuned(window, result.method))
    window.tuned_box = box
    box.open()
    return box


def _report_no_better(window, result) -> QMessageBox:
    held = result.held_out
    text = (f"The {result.method} search ({len(result.candidates)} candidates) found nothing better than the "
            f"default preset on the {held.preset.facts} held-out fact(s): default {scores_text(held.preset)}, "
            f"best found {scores_text(held.tuned)}.\n\nNothing was saved: the presets under Preset stay as they were. "
            "Tuning on more facts, or other kinds of facts, may find a difference.")
    window.notify(f"Tuning {result.method}: nothing better than the default; nothing saved", 15000)
    box = QMessageBox(QMessageBox.Icon.Information, "Nothing better found", text, parent=window)
    window.tuned_box = box
    box.open()
    return box


def _defaults(window, method: str) -> dict:
    """The default preset's values for ``method`` as the panel holds them ({} if it shows another)."""
    panel = window.method_panel
    default = panel.default_preset if panel.method_name() == method else None
    return dataclasses.asdict(default) if dataclasses.is_dataclass(default) else {}


def _what_changed(saved, defaults: dict) -> str:
    """Which values the search changed from the default preset, and how thin its held-out check is
    (trial 43: a preset equal to the default was offered as if it were better)."""
    def same(key, value) -> bool:  # JSON gives lists where the preset has tuples
        default = defaults.get(key)
        return key in defaults and (list(default) if isinstance(default, tuple) else default) == value

    changed = ", ".join(f"{k} {defaults.get(k, '?')} → {v}" for k, v in saved.changed.items() if not same(k, v))
    text = (f"It changes {changed}." if changed else
            "No value changed: the search found nothing better than the default preset.")
    held = saved.held_out.tuned.facts
    if held < 3:
        text += f" Only {held} fact(s) were held out to check it: tune on more facts for a firmer figure."
    return text


def _use_tuned(window, method: str) -> None:
    """The tuned preset in the panel, for ``method`` (the reviewer may have moved to another method,
    or another model, while the box stood)."""
    panel = window.method_panel
    if panel.method_name() != method:
        panel.method.setCurrentText(method)
    try:
        panel.choose_preset("tuned")
    except KeyError:
        window.notify(f"The tuned {method} preset is not offered for the model now loaded", 10000)
