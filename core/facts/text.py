"""Text fields of edit requests: validation, normalisation and the form answers compare in.

Imported files carry invisible damage (lone surrogates from bad escapes, NULs, zero-width
spaces, bidi marks, soft hyphens). A model tokenises them, so an answer holding one is a
different answer; they are refused with the offending character named, never kept.
"""

from __future__ import annotations

import unicodedata

# Format characters that carry meaning inside words: ZWNJ (Persian, Indic scripts) and ZWJ
# (emoji sequences, Indic conjuncts). Every other format character is invisible noise.
_JOINERS = frozenset("\u200c\u200d")
# Line breaks and tabs are legitimate inside a prompt or a context sentence.
_ALLOWED_CONTROLS = frozenset("\t\n")
# Categories that draw nothing on their own: a text of only these is blank.
_NO_GLYPH = frozenset(("Mn", "Me", "Cf", "Zs", "Zl", "Zp", "Cc"))


class TextProblem(ValueError):
    """What is wrong with a text and what to do about it (the caller adds the field)."""


def _describe(char: str) -> str:
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X}" + (f" {name}" if name else "")


def _check_surrogates(value: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise TextProblem(f"holds a lone surrogate {_describe(value[err.start])} at character {err.start} "
                          "(a broken \\u escape, half of an emoji?): fix the escape or re-save the file "
                          "as UTF-8") from None


def _bad_character(value: str) -> tuple[int, str] | None:
    for at, char in enumerate(value):
        category = unicodedata.category(char)
        if category == "Cc" and char not in _ALLOWED_CONTROLS:
            return at, "a control character"
        if category == "Cf" and char not in _JOINERS:
            return at, "an invisible format character"
    return None


def clean_text(value: str) -> str:
    """The text in NFC with outer whitespace stripped; TextProblem if it holds characters that
    do not belong in an edit request (surrogates, control and format characters)."""
    _check_surrogates(value)
    value = unicodedata.normalize("NFC", value).strip()
    bad = _bad_character(value)
    if bad is not None:
        at, what = bad
        raise TextProblem(f"holds {what}, {_describe(value[at])}, at character {at} of {value!r}: "
                          "remove it (it is invisible but changes what the model reads)")
    return value


def is_blank(value: str) -> bool:
    """True when nothing visible remains: only spaces, marks or invisible characters."""
    return all(unicodedata.category(char) in _NO_GLYPH for char in value)


def comparable(value: str) -> str:
    """The form two answers compare in: NFKC (fullwidth ｌｏｎｄｏｎ is london), case-folded,
    with format characters removed and whitespace collapsed."""
    folded = unicodedata.normalize("NFKC", value).casefold()
    visible = "".join(char for char in folded if unicodedata.category(char) != "Cf")
    return " ".join(visible.split())
