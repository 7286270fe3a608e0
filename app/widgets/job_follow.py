"""Following one running job in a panel: its progress bar, state line, start and cancel buttons.

``FollowsJob`` is mixed into the panels that run their own job on the lane (the preview,
the causal trace); ``track`` wires the job's signals once, for all of them.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QProgressBar

from app.jobs import Job
from app.widgets.focus import set_enabled_keeping_focus

BAR_TEXT = "100%"  # the widest text a job's bar shows


def keep_bar_text(bar: QProgressBar) -> None:
    """The bar may shrink in a narrow pane but never below its whole percentage: squeezed to
    nothing it read "0%" or "00%" at 1024×640. Room for the text and the style's frame."""
    bar.setMinimumWidth(bar.fontMetrics().horizontalAdvance(BAR_TEXT) + 2 * bar.fontMetrics().averageCharWidth() + 4)


class FollowsJob:
    """Needs ``bar``, ``state``, ``start_button`` and ``cancel_button`` on the panel."""

    job: Job | None = None
    waiting_text = "Working…"
    cancelled_text = "Cancelled"
    failed_text = "Failed: {exc}"

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.state.setText("Cancelling…")

    def track(self, job: Job) -> None:
        """Follow a running job: progress, cancel, then its result."""
        self.job = job
        self.bar.setValue(0)
        _swap_enabled(self.start_button, self.cancel_button)
        self.state.setText(f"Queued: {queued_for(job)}" if job.behind else self.waiting_text)
        if job.behind:  # once it starts, it no longer waits (until its first progress message)
            job.started.connect(lambda: self.state.setText(self.waiting_text))
        self.job_started(job)
        job.progressed.connect(self._follow_progress)
        job.succeeded.connect(self.show_result)
        job.cancelled.connect(lambda: self._stopped(self.cancelled_text, "cancelled"))
        job.failed.connect(lambda exc: self._stopped(self.failed_text.format(exc=exc), "failed"))
        job.finished.connect(self._follow_finished)

    def _stopped(self, text: str, how: str) -> None:
        self.state.setText(text)
        self.bar.setValue(0)  # a cancelled or failed job's 84% read as work still under way (trial 46)
        self.job_stopped(how)

    def job_started(self, job: Job) -> None:
        """Hook: reset what the panel draws live."""

    def job_stopped(self, how: str) -> None:
        """Hook: the job ended without a result (``how``: "cancelled" or "failed")."""

    def job_progress(self, event) -> None:
        """Hook: draw a progress event (the bar and the message are done)."""

    def show_result(self, result: Any) -> None:
        raise NotImplementedError

    def _follow_progress(self, event) -> None:
        self.job_progress(event)
        if event.fraction is not None:
            self.bar.setValue(int(event.fraction * 1000))
        if event.message:
            self.state.setText(event.message)

    def _follow_finished(self) -> None:
        self.job = None
        _swap_enabled(self.cancel_button, self.start_button)


def queued_for(job: Job) -> str:
    """What a job waits for, when others were ahead of it in the lane (trial 43: a preview asked
    for while a tuning job ran said nothing until the tuning ended); "" when it starts at once."""
    if not job.behind:
        return ""
    if len(job.behind) == 1:
        return f"starts when “{job.behind[0]}” ends"
    return f"starts when “{job.behind[0]}” and {len(job.behind) - 1} more job(s) end"


def _swap_enabled(off, on) -> None:
    """Enable ``on`` and disable ``off``, handing it the focus if ``off`` had it."""
    set_enabled_keeping_focus({on: True, off: False}, heirs=(on,))
