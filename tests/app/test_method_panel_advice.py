"""Every hyperparameter a verdict's advice names can be set without opening "Advanced"."""

import dataclasses
import re

import pytest

from app.widgets.method_panel import BASIC_HPARAMS
from core.methods import get_method, method_names
from core.workflows import verdict


def _advice(method: str) -> list[str]:
    tables = (verdict._FAILED_ADVICE, verdict._SIDE_EFFECT_ADVICE, verdict._PARTIAL_ADVICE)
    return [tip for table in tables for tip in table.get(method, table["*"])]


@pytest.mark.parametrize("method", method_names())
def test_the_knobs_the_advice_names_are_shown_without_advanced(method):
    fields = {f.name for f in dataclasses.fields(get_method(method).hparams_class)}
    named = {word for tip in _advice(method) for word in re.findall(r"[a-z][a-z0-9_]*", tip) if word in fields}
    assert named <= set(BASIC_HPARAMS), sorted(named - set(BASIC_HPARAMS))
