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

    def stage(self, start: float, end: float, prefix: str = "") -> Progress:
        """A child whose 0..total maps onto this progress's start..end fraction; ``prefix``
        goes before its messages (which part of a long job they are about)."""
        parent = self

        def forward(event: ProgressEvent) -> None:
            fraction = event.fraction if event.fraction is not None else 0.0
            message = f"{prefix}{event.message}" if prefix and event.message else event.message
            parent.report(start + (end - start) * fraction, 1.0, message, **event.values)

        return Progress(forward, self._cancel)

    def watched(self, on_event: Callable[[ProgressEvent], None]) -> Progress:
        """A child that shows each event to ``on_event`` (a loss recorder) and reports it on."""
        parent = self

        def forward(event: ProgressEvent) -> None:
            on_event(event)
            parent.report(event.done, event.total, event.message, **event.values)

        return Progress(forward, self._cancel)


def silent() -> Progress:
    """A progress that reports nowhere and is never cancelled by anyone else."""
    return Progress()


def _duration(seconds: float) -> str:
    """9 s, 2 min 5 s, 1 h 3 min: the remaining time as a person reads it."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def rate_text(done: float, total: float | None, rate: float, unit: str = "tokens", short: str = "tok") -> str:
    """``12,800 / 40,000 tokens · 3,100 tok/s · 9 s left``: rate (per second) and time
    left once the rate is known (positive)."""
    parts = [f"{done:,.0f} / {total:,.0f} {unit}" if total else f"{done:,.0f} {unit}"]
    if rate > 0:
        parts.append(f"{rate:,.1f} {short}/s" if rate < 10 else f"{rate:,.0f} {short}/s")  # slow work: 0.4 step/s
        if total:
            parts.append(f"{_duration(max(0.0, total - done) / rate)} left")
    return " · ".join(parts)


class RateMeter:
    """Counts units of work (tokens) against a total and says how fast and how long is left.

    ``values(done)`` gives what a live display needs (done, total, rate per second,
    seconds left) as ``ProgressEvent.values``; ``text(done)`` the line ``rate_text`` writes.
    ``start`` is work already done before the meter started (it counts in ``done`` but
    not in the rate).
    """

    def __init__(self, total: float | None, unit: str = "tokens", short: str = "tok",
                 clock: Callable[[], float] | None = None, start: float = 0.0, warmup: float = 0.0) -> None:
        import time

        self.total, self.unit, self.short, self.start = total, unit, short, start
        self._clock = clock or time.perf_counter
        self._started = self._clock()
        self._warmup = warmup  # the first units (a training run's first step sets things up): not timed

    def elapsed(self) -> float:
        return self._clock() - self._started

    def mark(self, done: float) -> None:
        """``done`` units finished: once past the warm-up, the rate is timed from here on (trial 37:
        "1 h 13 min left" for a 10-minute run, its first step setting things up)."""
        if self._warmup and done >= self.start + self._warmup:
            self.start, self._started, self._warmup = done, self._clock(), 0.0

    def rate(self, done: float) -> float:
        if self._warmup:  # still warming up: no rate yet
            return 0.0
        seconds = self.elapsed()
        return (done - self.start) / seconds if seconds > 0 and done > self.start else 0.0

    def text(self, done: float) -> str:
        return rate_text(done, self.total, self.rate(done), self.unit, self.short)

    def values(self, done: float) -> dict[str, float]:
        rate = self.rate(done)
        out = {"done_units": float(done), "rate": rate}
        if self.total:
            out["total_units"] = float(self.total)
            if rate:
                out["seconds_left"] = max(0.0, self.total - done) / rate
        return out
