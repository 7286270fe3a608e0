"""One serial job lane: long work runs on a single worker thread, never the GUI thread.

Each ``Job`` wraps ``fn(progress) -> result``. Its public signals are always emitted
on the GUI thread (results hop over queued connections), so slots and lambdas connected
to them may touch widgets. Cancellation goes through the core Progress protocol.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from enum import Enum
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal

from app.errors import is_user_error
from core import Cancelled, CommitRefused, Progress, ProgressEvent

log = logging.getLogger(__name__)


def leave_a_core_for_the_gui() -> int:
    """Let torch's worker threads use all CPU cores but one, so the GUI thread is never
    starved while an edit computes (their busy-waiting would otherwise take every core).
    Returns the number of torch threads."""
    import os

    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = max(1, min(torch.get_num_threads(), cores - 1))
    torch.set_num_threads(threads)
    return threads


class JobState(Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Job(QObject):
    started = Signal()
    progressed = Signal(object)  # ProgressEvent
    succeeded = Signal(object)  # the result
    failed = Signal(object)  # the exception
    cancelled = Signal()
    finished = Signal()  # after any of the three above

    # Raw signals emitted on the worker thread, relayed to the GUI thread.
    _raw_started = Signal()
    _raw_progress = Signal(object)
    _raw_done = Signal(object, object)

    def __init__(self, name: str, fn: Callable[[Progress], Any], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.state = JobState.QUEUED
        self.last_event: ProgressEvent | None = None
        self.error: BaseException | None = None  # why it failed
        self.behind: tuple[str, ...] = ()  # the jobs ahead of it in the lane when it was submitted, by name
        self._fn = fn
        self.progress = Progress(self._raw_progress.emit)
        self._raw_started.connect(self._on_started, Qt.ConnectionType.QueuedConnection)
        self._raw_progress.connect(self._on_progress, Qt.ConnectionType.QueuedConnection)
        self._raw_done.connect(self._on_done, Qt.ConnectionType.QueuedConnection)

    def cancel(self) -> None:
        self.progress.cancel()

    @property
    def active(self) -> bool:
        return self.state in (JobState.QUEUED, JobState.RUNNING)

    def run(self) -> None:
        """Runs on the worker thread."""
        if self.progress.cancelled:
            self._raw_done.emit("cancelled", None)
            return
        self._raw_started.emit()
        try:
            result = self._fn(self.progress)
        except Cancelled:
            self._raw_done.emit("cancelled", None)
        except BaseException as exc:  # reported to the user, never lost in a thread
            if _refusal(exc):  # expected (an unsigned patch, the commit gate): one line, no traceback
                log.warning("job %r refused: %s", self.name, exc)
            elif is_user_error(exc):  # bad input said to the user (a wrong folder): a line too
                log.warning("job %r stopped: %s", self.name, exc)
                log.debug("job %r stopped here", self.name, exc_info=True)
            else:
                log.exception("job %r failed", self.name)
            self._raw_done.emit("failed", exc)
        else:
            self._raw_done.emit("done", result)

    def _on_started(self) -> None:
        self.state = JobState.RUNNING
        self.started.emit()

    def _on_progress(self, event: ProgressEvent) -> None:
        self.last_event = event
        self.progressed.emit(event)

    def _on_done(self, outcome: str, payload: object) -> None:
        if outcome == "done":
            self.state = JobState.DONE
            self.succeeded.emit(payload)
        elif outcome == "failed":
            self.state = JobState.FAILED
            self.error = payload
            self.failed.emit(payload)
        else:
            self.state = JobState.CANCELLED
            self.cancelled.emit()
        self.finished.emit()


def _refusal(exc: BaseException) -> bool:
    """A job that stopped on an expected refusal, not a fault: said as "refused", logged in a line."""
    return bool(getattr(exc, "consent", None)) or isinstance(exc, CommitRefused)


def outcome_word(job: Job) -> str:
    """The job's end in a word for the status bar: done, cancelled, failed, or refused."""
    refused = job.state is JobState.FAILED and job.error is not None and _refusal(job.error)
    return "refused" if refused else job.state.value


class JobLane(QObject):
    """Runs submitted jobs one at a time, in order, on one worker thread."""

    job_started = Signal(object)
    job_finished = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="factsmith-job")
        self._jobs: list[Job] = []

    def submit(self, name: str, fn: Callable[[Progress], Any]) -> Job:
        job = Job(name, fn)  # owned by Python: freed when the lane and callers let go
        job.behind = tuple(other.name for other in self._jobs if other.active)
        job.started.connect(lambda: self.job_started.emit(job))
        job.finished.connect(lambda: self._retire(job))
        self._jobs.append(job)
        self._executor.submit(job.run)
        return job

    def _retire(self, job: Job) -> None:
        if job in self._jobs:
            self._jobs.remove(job)
        self.job_finished.emit(job)

    @property
    def jobs(self) -> list[Job]:
        return list(self._jobs)

    @property
    def busy(self) -> bool:
        return bool(self._jobs)

    def cancel_all(self) -> None:
        for job in self._jobs:
            job.cancel()

    def shutdown(self) -> None:
        """Cancel everything and wait for the worker to stop (on window close)."""
        self.cancel_all()
        self._executor.shutdown(wait=True, cancel_futures=False)
