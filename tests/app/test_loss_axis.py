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
