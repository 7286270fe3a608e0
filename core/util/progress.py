"""One Qt-free progress and cancellation protocol for all long work.

Core functions take a ``Progress`` and call ``report(done, total, message)`` as they
go and ``check()`` at safe points; ``check()`` raises ``Cancelled`` once someone has
called ``cancel()``. The GUI turns reports into signals; the CLI into log lines or
a tqdm bar. ``stage()`` maps a sub-task onto a slice of the parent's range.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


class Cancelled(Exception):
    """Raised at a safe point after the user asked to stop."""


@dataclass(frozen=True)
class ProgressEvent:
    done: float
    total: float | None
    message: str
    values: Mapping[str, float] = field(default_factory=dict)  # e.g. {"loss": 0.3} for live curves

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return max(0.0, min(1.0, self.done / self.total))


class Progress:
    """Reports progress to an optional callback and carries a cancel flag."""

    def __init__(
        self,
        on_report: Callable[[ProgressEvent], None] | None = None,
        cancel_event: threading.Event | None = None,
    ) -> None:
        self._on_report = on_report
        self._cancel = cancel_event or threading.Event()

    def report(self, done: float, total: float | None = None, message: str = "", **values: float) -> None:
        if self._on_report is not None:
            self._on_report(ProgressEvent(done, total, message, values))

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check(self) -> None:
        if self._cancel.is_set():
            raise Cancelled("cancelled by the user")

    def stage(self, start: float, end: float) -> Progress:
        """A child whose 0..total maps onto this progress's start..end fraction."""
        parent = self

        def forward(event: ProgressEvent) -> None:
            fraction = event.fraction if event.fraction is not None else 0.0
            parent.report(start + (end - start) * fraction, 1.0, event.message, **event.values)

        return Progress(forward, self._cancel)


def silent() -> Progress:
    """A progress that reports nowhere and is never cancelled by anyone else."""
    return Progress()
