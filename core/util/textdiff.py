"""Word-level differences between two texts, for before/after previews.

``word_diff(before, after)`` returns each text as segments ``(text, changed)``: the
words the other text lacks are marked changed. Whitespace is kept, so joining a side's
segments gives the original text back.
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher
from typing import NamedTuple

_TOKENS = re.compile(r"\s+|\w+|[^\w\s]")


class Segment(NamedTuple):
    text: str
    changed: bool


def tokens(text: str) -> list[str]:
    return _TOKENS.findall(text)


def _merge(segments: list[Segment]) -> list[Segment]:
    """Join neighbours with the same flag (whitespace between two changed words stays changed)."""
    merged: list[Segment] = []
    for segment in segments:
        if merged and merged[-1].changed == segment.changed:
            merged[-1] = Segment(merged[-1].text + segment.text, segment.changed)
        else:
            merged.append(segment)
    return merged


def word_diff(before: str, after: str) -> tuple[list[Segment], list[Segment]]:
    """(before's segments, after's segments); unchanged words are shared by both."""
    a, b = tokens(before), tokens(after)
    old: list[Segment] = []
    new: list[Segment] = []
    for op, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        same = op == "equal"
        old += [Segment(t, not same and not t.isspace()) for t in a[i1:i2]]
        new += [Segment(t, not same and not t.isspace()) for t in b[j1:j2]]
    return _merge(old), _merge(new)


def changed_words(before: str, after: str) -> int:
    """How many words of ``after`` differ from ``before``."""
    _, new = word_diff(before, after)
    return sum(1 for s in new if s.changed for word in tokens(s.text) if not word.isspace())
