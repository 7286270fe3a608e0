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
