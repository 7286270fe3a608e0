"""The method panel's "Tune preset…": search the chosen method's grid on the queue's facts
(core's ``tune_and_save``) as a job on the lane, with progress and cancel in the status
bar; the saved preset then appears in the panel's preset choice."""

from __future__ import annotations

from app.jobs import Job
from core import LedgerError, TuneError, split_facts, tune_and_save


def tune_preset(window, method: str | None = None) -> Job | None:
    """Tune ``method`` (default: the panel's) for the loaded model on every fact in the queue."""
    lm, ws, panel = window.session.lm, window.session.ws, window.method_panel
    method = method or panel.method_name()
    if lm is None or ws is None:
        window.show_error("Cannot tune", LedgerError("load a model first: its workspace holds the facts"))
        return None
    facts = [record.fact for record in ws.queue()]
    try:
        split_facts(facts)  # too few facts is said before anything runs
    except TuneError as exc:
        window.show_error("Cannot tune", exc)
        return None
    job = window.lane.submit(f"Tuning the {method} preset", lambda progress: tune_and_save(lm, method, facts,
                                                                                           progress))
    panel.track_tune(job)
    job.succeeded.connect(lambda done: _report(window, *done))
    job.cancelled.connect(lambda: window.notify("Tuning cancelled: nothing was saved", 8000))
    return window._report_failure(job, f"Tuning the {method} preset failed")


def _report(window, result, saved) -> None:
    held = saved.summary()
    window.notify(f"Tuned {result.method} preset saved ({len(result.candidates)} candidates; "
                                   f"{held}); choose it under Preset", 15000)
