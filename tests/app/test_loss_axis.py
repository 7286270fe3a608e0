"""The loss chart's value axis never rescales its title ("loss (x0.001)" was cut to
"loss (x0.0" at 1366×768 once an edit's losses were all small)."""

import pytest

pytestmark = pytest.mark.gui


def test_small_losses_keep_the_plain_axis_title(qtbot):
    from app.widgets.loss_curve import LossCurve

    chart = LossCurve()
    qtbot.addWidget(chart)
    chart.resize(520, 120)
    chart.show()
    chart.set_losses([0.004, 0.002, 0.0011, 0.0009])
    qtbot.wait(50)
    axis = chart.getAxis("left")
    assert axis.labelText == "loss" and axis.labelUnitPrefix == ""
    assert "x0.0" not in axis.labelString()


def test_reset_goes_back_to_the_empty_charts_axes_and_the_next_curve_sets_them_again(qtbot):
    from app.widgets.loss_curve import LossCurve

    chart = LossCurve()
    qtbot.addWidget(chart)
    chart.resize(520, 120)
    chart.show()
    chart.set_losses([40.0, 20.0, 8.0, 3.0, 1.0])
    qtbot.wait(50)
    assert chart.getViewBox().viewRange()[1][1] >= 40
    chart.reset()
    qtbot.wait(50)
    assert chart.getViewBox().viewRange() == [[0.0, 1.0], [0.0, 1.0]], "not the last run's axes"
    chart.set_losses([0.5, 0.2])
    qtbot.wait(50)
    (x_low, x_high), (y_low, y_high) = chart.getViewBox().viewRange()
    assert x_low <= 1 and x_high >= 2 and y_low <= 0.2 and 0.5 <= y_high < 1.0


def test_a_short_chart_never_crowds_its_value_labels_and_an_absent_curve_draws_no_axes(qtbot):
    """Trial 40: a 25 px ICE chart read "4 2 0" in 20 px; a run with no stored curve drew a stray
    "0" and a clipped "optimisation step" under its note."""
    from app.widgets.loss_curve import SparseAxis

    axis = SparseAxis()
    ((step, _),) = axis.tickSpacing(0.0, 4.5, 25.0)
    assert step == 5, "one tick (0) in view rather than three crowded ones"
    ((step, _),) = axis.tickSpacing(0.0, 4.5, 200.0)
    assert step == 1 or step == 0.5
    from app.widgets.loss_curve import LossCurve

    chart = LossCurve()
    qtbot.addWidget(chart)
    chart.show_absent("loss curve not stored for this run")
    item = chart.getPlotItem()
    assert not item.getAxis("left").isVisible() and not item.getAxis("bottom").isVisible()
    chart.set_losses([2.0, 1.0])
    assert item.getAxis("left").isVisible() and not item.titleLabel.isVisible()
