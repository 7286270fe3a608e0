"""The Trace view: a layers × tokens heatmap of a causal trace, run in the job lane."""

from __future__ import annotations

import numpy as np
import pytest

from app.widgets.trace_view import TraceView
from core import Fact, LoadOptions, TraceOptions, load_model, trace_fact

pytestmark = pytest.mark.gui

FACT = Fact.create(subject="France", prompt="The capital of France is", target_new="Seattle")


@pytest.fixture
def tiny_gpt2(tiny_model_dir):
    return load_model(tiny_model_dir("gpt2"), LoadOptions(device="cpu"))


def test_heatmap_axes_and_chosen_layer_marker(qtbot, demo_lm):
    result = trace_fact(demo_lm, FACT, TraceOptions(samples=2))
    assert result.meaningful
    view = TraceView()
    qtbot.addWidget(view)
    view.show_result(result)
    assert view.current_kind() == "mlp"
    image = view.image.image
    assert image.shape == (len(result.tokens), result.n_layers)
    assert np.allclose(image, np.asarray(result.scores["mlp"]).T)
    ticks = view.plot.getAxis("bottom")._tickLevels[0]
    start, end = result.subject_range
    assert [label.strip("*") for _, label in ticks][start:end] == ["France"]
    x, y = view.marker.getData()
    assert (min(x), min(y)) == (result.subject_last, result.chosen_layer)
    assert f"Chosen layer <b>{result.chosen_layer}</b>" in view.state.text()
    view.kind.setCurrentIndex(view.kind.findData("state"))
    assert np.allclose(view.image.image, np.asarray(result.scores["state"]).T)


def test_trace_runs_in_the_job_lane_with_progress(qtbot, tiny_gpt2):
    from app.jobs import JobLane

    lane, view = JobLane(), TraceView()
    qtbot.addWidget(view)
    events = []
    job = lane.submit("Tracing", lambda progress: trace_fact(tiny_gpt2, FACT, TraceOptions(samples=2), progress))
    job.progressed.connect(events.append)
    view.track(job)
    assert not view.trace_button.isEnabled() and view.cancel_button.isEnabled()
    with qtbot.waitSignal(job.finished, timeout=60_000):
        pass
    assert job.state.value == "done" and view.result is not None
    assert events and view.bar.value() == 1000 and view.trace_button.isEnabled()
    lane.shutdown()


def test_cancel_leaves_the_view_usable(qtbot, tiny_gpt2):
    from app.jobs import JobLane

    lane, view = JobLane(), TraceView()
    qtbot.addWidget(view)
    blocker = lane.submit("Busy", lambda progress: __import__("time").sleep(0.3))
    job = lane.submit("Tracing", lambda progress: trace_fact(tiny_gpt2, FACT, TraceOptions(samples=2), progress))
    view.track(job)
    view.bar.setValue(840)  # as if it had got that far (trial 46: the bar stayed at 84% after Cancel)
    view.cancel()
    with qtbot.waitSignal(job.finished, timeout=30_000):
        pass
    assert blocker.state.value == "done" and job.state.value == "cancelled"
    assert view.bar.value() == 0
    assert view.state.text().startswith("Cancelled") and view.trace_button.isEnabled() and view.result is None
    assert "No trace yet" in view.empty.toPlainText(), "not 'Tracing…' once cancelled"
    lane.shutdown()


def test_window_traces_the_selected_fact(qtbot):
    from core import demo_edits_file
    from tests.app.helpers import open_window, wait_job

    window = open_window(qtbot)
    wait_job(qtbot, window.import_facts(demo_edits_file()), 60_000)
    assert window.trace_view.state.text().startswith("Select a fact in the queue")
    window.queue.select_row(0)
    fact = window.ws.fact(window.queue.selected_ids()[0]).fact
    # trial 45: it said "Select a fact in the queue" with one selected; it names the one it will trace
    assert fact.subject in window.trace_view.state.text() and "Select" not in window.trace_view.state.text()
    window.trace_view.trace_button.click()
    assert window.tabs.currentWidget() is window.trace_view
    job = window.trace_view.job
    wait_job(qtbot, job, 120_000)
    assert job.state.value == "done"
    result = window.trace_view.result
    assert result.prompt == fact.prompt and result.subject == fact.subject
    assert window.trace_view.target == fact.target_true  # the whole answer its first token starts
    assert result.chosen_layer in range(window.lm.info.layers)
    actions = [a.text() for m in window.menuBar().actions() for a in m.menu().actions()]
    assert "Causal trace of selected fact" in actions
    window.close()


def test_colour_bar_matches_the_cells_and_axes_are_labelled(qtbot, tiny_gpt2):
    view = TraceView()
    qtbot.addWidget(view)
    view.show()
    axes = {name: view.plot.getAxis(name) for name in ("left", "bottom")}
    assert axes["left"].labelText == "layer" and axes["bottom"].labelText.startswith("token")
    assert view.empty.isVisible() and "No trace yet" in view.empty.toPlainText(), "not an empty pair of axes"
    view.show_result(trace_fact(tiny_gpt2, FACT, TraceOptions(samples=2)))
    assert not view.empty.isVisible()
    for kind in ("mlp", "state"):
        view.kind.setCurrentIndex(view.kind.findData(kind))
        data = view.matrix()
        low, high = view.colour_bar.levels()
        assert (low, high) == pytest.approx((data.min(), data.max()), abs=1e-6)
        for cell in (np.unravel_index(data.argmin(), data.shape), np.unravel_index(data.argmax(), data.shape)):
            expected = view.colour_bar.colorMap().map((data[cell] - low) / (high - low), mode="qcolor")
            got = view.cell_colour(*map(int, cell))
            assert abs(got.red() - expected.red()) + abs(got.green() - expected.green()) <= 6, (kind, cell)
    assert view.colour_bar.getAxis("left").labelText.startswith("P(answer)")


def test_trace_of_an_edited_fact_names_the_answer_traced_and_no_fake_layer(qtbot, demo_lm):
    import dataclasses

    edited = Fact.create(subject="Catania", prompt="Catania can be found in", target_new="Spain",
                         target_true="Japan")
    result = trace_fact(demo_lm, edited, TraceOptions(samples=2))
    view = TraceView()
    qtbot.addWidget(view)
    view.show_result(result)
    assert "'Japan') is only" in view.state.text() and "traced instead" in view.state.text()
    weak = dataclasses.replace(result, clean_p=0.0)
    view.show_result(weak)
    text = view.state.text()
    assert "No layer chosen" in text and "Chosen layer" not in text and "preset's layer" in text
    assert view.marked_cell() is None and len(view.marker.getData()[0] or []) == 0


def title(view: TraceView) -> str:
    label = view.plot.getPlotItem().titleLabel
    return label.text if label.isVisible() else ""


def test_every_view_boxes_the_chosen_layer_its_title_names(qtbot, demo_lm):
    """Trial: the hidden-state view's title said "(red: chosen layer)" but drew no box."""
    import dataclasses

    result = trace_fact(demo_lm, FACT, TraceOptions(samples=2))
    view = TraceView()
    qtbot.addWidget(view)
    for shown, marked in ((result, True), (dataclasses.replace(result, clean_p=0.0), False)):
        view.show_result(shown)
        for kind in ("mlp", "state"):
            view.kind.setCurrentIndex(view.kind.findData(kind))
            x, y = view.marker.getData()
            assert ("(red: chosen layer)" in title(view)) == marked == (x is not None and len(x) > 0), kind
            if marked:
                assert (min(x), min(y), max(x), max(y)) == (result.subject_last, result.chosen_layer,
                                                            result.subject_last + 1, result.chosen_layer + 1)
            else:
                assert "(no layer chosen)" in title(view)


def test_the_answer_is_named_as_only_its_first_token(qtbot, demo_lm):
    """Trial: "→ ' Beng'" and "P('Y') is only 0.000" did not say these start 'Bengali' and 'Yen'."""
    import dataclasses

    result = dataclasses.replace(trace_fact(demo_lm, FACT, TraceOptions(samples=2)), answer=" Beng")
    view = TraceView()
    qtbot.addWidget(view)
    view.target = "Bengali"
    view.show_result(result)
    assert "→ ' Beng' (the first token of 'Bengali', which a trace follows): P" in view.state.text()
    assert title(view).startswith("P(Beng…) restored")
    view.target = "Yen"
    view.show_result(dataclasses.replace(result, answer=" Euro", replaced_answer=" Y", replaced_p=0.0))
    text = view.state.text()
    assert "P('Y', the first token of 'Yen') is only 0.000" in text and "top answer 'Euro' is traced" in text
    assert "first token of 'Yen', which" not in text and title(view).startswith("P(Euro) restored")
    view.target = "Beng"  # a one-token answer: nothing to say
    view.show_result(result)
    assert "first token" not in view.state.text() and title(view).startswith("P(Beng) restored")


def test_a_new_trace_clears_the_last_facts_heatmap(qtbot, tiny_gpt2):
    """Trial: while Fiji was traced the tab still showed Bangladesh's heatmap, tokens and title."""
    from app.jobs import JobLane

    lane, view = JobLane(), TraceView()
    qtbot.addWidget(view)
    view.show_result(trace_fact(tiny_gpt2, FACT, TraceOptions(samples=2)))
    assert view.image.image is not None and title(view)
    other = Fact.create(subject="Japan", prompt="The currency of Japan is the", target_new="Euro",
                        target_true="Germanic")  # several tokens
    blocker = lane.submit("Busy", lambda progress: __import__("time").sleep(0.3))
    job = lane.submit("Tracing Japan", lambda progress: trace_fact(tiny_gpt2, other, TraceOptions(samples=2),
                                                                   progress))
    view.trace(job, other.target_true)
    assert view.result is None and view.image.image is None and title(view) == ""
    assert not view.marker.getData()[0] and not view.plot.getAxis("bottom")._tickLevels[0]
    assert view.empty.isVisible() and view.empty.toPlainText() == "Tracing Japan…"
    view.kind.setCurrentIndex(view.kind.findData("state"))  # nothing old comes back
    assert view.image.image is None
    with qtbot.waitSignal(job.finished, timeout=60_000):
        pass
    assert blocker.state.value == "done" and view.result.prompt == other.prompt and not view.empty.isVisible()
    assert "the first token of 'Germanic'" in view.state.text()
    lane.shutdown()
