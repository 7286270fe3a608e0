"""A bounded memo of values derived from one loaded model's files (covariances read from
the statistics cache, their eigendecompositions). It belongs to the ``LoadedModel`` and
goes with it, so nothing derived from one model outlives it or leaks into another."""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable

DEFAULT_MAX_BYTES = 1 << 30


def _nbytes(value) -> int:
    if isinstance(value, tuple | list):
        return sum(_nbytes(v) for v in value)
    numel = getattr(value, "numel", None)
    return int(numel() * value.element_size()) if numel is not None else 0


class BoundedMemo:
    """Values by key, least recently used dropped first once they pass ``max_bytes``
    (the newest one always stays). Thread-safe; ``make`` runs outside the lock."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES):
        self.max_bytes = max_bytes
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get_or_make(self, key: Hashable, make: Callable[[], object]):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = make()
        if value is not None:
            self._keep(key, value)
        return value

    def for_object(self, obj, tag: str, make: Callable[[], object]):
        """What ``make`` derives from ``obj``, kept while ``obj`` lives (by identity)."""
        key = (tag, id(obj))
        with self._lock:
            entry = self._items.get(key)
            if entry is not None and entry[0]() is obj:
                self._items.move_to_end(key)
                return entry[1]
        value = make()
        self._keep(key, (weakref.ref(obj), value))
        return value

    def _keep(self, key: Hashable, value) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > 1 and sum(_nbytes(v) for v in self._items.values()) > self.max_bytes:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
