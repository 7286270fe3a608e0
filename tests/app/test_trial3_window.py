"""Findings of the new-user trial 3 in the main window, driven as the user did."""

import pytest

from app.widgets.metrics_view import BAD, GOOD
from tests.app.helpers import open_window

pytestmark = pytest.mark.gui


def _change_cells(metrics) -> dict:
    table = metrics.table
    return {table.item(r, 0).text(): metrics.change_colour(r) for r in range(table.rowCount())
            if table.columnSpan(r, 0) == 1}


def test_change_cells_follow_the_legend_for_each_metric_whatever_the_verdict(qtbot):
    """Trial 3, finding 1: reliability +0.5 was as pink as locality −0.333 on an edit with side effects."""
    window = open_window(qtbot)
    metrics = window.preview_panel.metrics
    pre = {"reliability": 0.25, "locality": 1.0, "probability.reliability": 0.0, "ppl_r": 2.0,
           "probability.p_old": 0.4, "fluency": 600.0, "generality": 0.5}
    post = {"reliability": 0.75, "locality": 0.667, "probability.reliability": 1.0, "ppl_r": 3.0,
            "probability.p_old": 0.1, "fluency": 600.0, "generality": 0.5}
    metrics.set_metrics({"pre_all": pre, "post_all": post, "pre": pre, "post": post,
                         "verdict": {"verdict": "side effects", "reasons": ["locality fell"]}})
    assert metrics.table.item(0, 0).text().startswith("Verdict:")
    assert metrics.table.item(0, 0).foreground().color().name() == "#b36b00", "the verdict row keeps its colour"
    cells = _change_cells(metrics)
    assert cells["reliability"] == GOOD and cells["probability.reliability"] == GOOD
    assert cells["locality"] == BAD
    assert cells["ppl_r"] == BAD and cells["probability.p_old"] == GOOD, "lower is better for these"
    assert cells["fluency"] is None and cells["generality"] is None, "no colour for no change"
    window.close()
