"""Where an edit's time goes: named phases timed by a context manager.

``phase("essence samples")`` around a piece of work adds its wall time to every
recorder open at that moment (``recording()``, e.g. ``bench/profile_edit.py``) and logs
it at DEBUG level. With no recorder open a phase costs two clock reads. Phases may nest
(a step's forward inside the optimisation); each is counted on its own, so nested
phases' times overlap their parent's.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

_local = threading.local()


@dataclass
class PhaseTimes:
    """Seconds and calls per phase name, in the order phases were first seen."""

    seconds: dict[str, float] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds
        self.calls[name] = self.calls.get(name, 0) + 1


def _recorders() -> list[PhaseTimes]:
    if not hasattr(_local, "recorders"):
        _local.recorders = []
    return _local.recorders


@contextmanager
def recording() -> Iterator[PhaseTimes]:
    """Collect the phases that run (in this thread) inside the ``with`` block."""
    times = PhaseTimes()
    recorders = _recorders()
    recorders.append(times)
    try:
        yield times
    finally:
        recorders.remove(times)


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Time the ``with`` block as phase ``name``."""
    started = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - started
        for times in _recorders():
            times.add(name, elapsed)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s: %.4fs", name, elapsed)
