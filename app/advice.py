"""The verdict's advice in the window's own terms: the controls a reviewer clicks, not CLI flags."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core import phrase_advice, verdict_unchecked

GUI_TERMS: Mapping[str, str] = {
    "layer_auto": "type auto in the layer field",
    "tune": "the Tune preset… button",
    "train": "Train… beside the checkpoint",
}


def gui_advice(verdict: Mapping[str, Any]) -> list[str]:
    return phrase_advice(verdict, GUI_TERMS)


VERDICT_COLOURS: Mapping[str, str] = {"took": "#1e7d32", "partial": "#b36b00", "side effects": "#b36b00",
                                      "failed": "#b3261e"}
UNCHECKED_COLOUR = "#b36b00"


def verdict_colour(verdict: Mapping[str, Any], default: str | None = "#333") -> str | None:
    """Green only for an edit that took with every check made: a "took" with generality or
    locality unmeasured reads amber (trial 47: green for an edit nobody checked for side effects)."""
    kind = verdict.get("verdict")
    if kind == "took" and verdict_unchecked(verdict):
        return UNCHECKED_COLOUR
    return VERDICT_COLOURS.get(kind, default) if kind else default
