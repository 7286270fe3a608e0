"""Slots that return nothing.

PySide6 6.12.0 drops one reference to True or False each time a Python slot returns one,
and the interpreter aborts ("bool_dealloc") once they run out, so a long session would
crash; pyproject keeps PySide6 below 6.12, and slots whose callee answers a bool are
wrapped here as well, so a later release with the same fault cannot bring it back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def no_result(fn: Callable[..., Any]) -> Callable[..., None]:
    """``fn`` as a slot whose result is dropped (the signal's arguments are passed on)."""

    def slot(*args: Any) -> None:
        fn(*args)

    return slot
