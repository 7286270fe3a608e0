"""Context managers that keep transformers' console chatter out of Factsmith's output while
one call runs, restoring the library's settings in ``finally`` (a user's own settings stand
outside these calls)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

# transformers' "We strongly recommend passing in an `attention_mask`…" warning: see padding_warning_muted
_PADDING_WARNING = "attention_mask"


class _DropPaddingWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return _PADDING_WARNING not in record.getMessage()


@contextmanager
def loading_bars_off() -> Iterator[None]:
    """No "Loading weights" progress bar from from_pretrained: the caller reports its own progress."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


@contextmanager
def padding_warning_muted() -> Iterator[None]:
    """generate() gets our attention mask, but where padding == end of text (GPT-2 style) a row
    that finished early pads with that token and transformers' per-step check, which does not
    see the mask, warns that none was passed: a false alarm here, so it is dropped."""
    logger = logging.getLogger("transformers.modeling_utils")
    muted = _DropPaddingWarning()
    logger.addFilter(muted)
    try:
        yield
    finally:
        logger.removeFilter(muted)
