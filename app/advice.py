"""The verdict's advice in the window's own terms: the controls a reviewer clicks, not CLI flags."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core import phrase_advice

GUI_TERMS: Mapping[str, str] = {
    "layer_auto": "type auto in the layer field",
    "tune": "the Tune preset… button",
    "train": "Train… beside the checkpoint",
}


def gui_advice(verdict: Mapping[str, Any]) -> list[str]:
    return phrase_advice(verdict, GUI_TERMS)
