"""The method panel's "Tune preset…": a job on the lane with progress and cancel; the tuned
preset is then offered in the panel's preset choice and used by previews."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt

from core.methods.hparams import as_dict
from core.model.fingerprint import state_fingerprint
from core.workflows.tune_store import preset_path, tuned_preset
from tests.app.helpers import open_window, wait_job
from tests.core.test_tune import FACTS, small_grid

pytestmark = pytest.mark.gui


def _window_with_facts(qtbot, tiny_model_dir, tmp_path, facts):
    window = open_window(qtbot, model_path=tiny_model_dir("llama"))
    path = tmp_path / "facts.jsonl"
    path.write_text("".join(json.dumps(f.to_dict()) + "\n" for f in facts), encoding="utf-8")
    wait_job(qtbot, window.import_facts(path), 60_000)
    window.method_panel.method.setCurrentText("ft-m")
    return window


def _start_tuning(qtbot, window, selected: int = 0):
    """Click Tune preset…, read the dialog, start: the job the panel follows."""
    panel = window.method_panel
    qtbot.mouseClick(panel.tune_button, Qt.MouseButton.LeftButton)
    dialog = window.last_tune_dialog
    assert dialog.isVisible() and panel.tune_job is None, "nothing runs before the reviewer starts it"
    assert dialog.use_queue.isChecked() == (selected < 4) and dialog.start_button.isEnabled()
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    return panel.tune_job


def test_tune_preset_runs_as_a_job_and_offers_the_tuned_preset(qtbot, tiny_model_dir, tmp_path, monkeypatch):
    small_grid(monkeypatch)
    window = _window_with_facts(qtbot, tiny_model_dir, tmp_path, FACTS)
    panel, lm = window.method_panel, window.lm
    # "Default" and the named variant of ft-m's small preset
    assert panel.preset_choice.count() == 2 and panel.preset_kind() == "default"
    before = state_fingerprint(lm.model)
    job = _start_tuning(qtbot, window)
    assert job is not None and not panel.tune_button.isEnabled()
    with qtbot.waitSignal(job.progressed, timeout=120_000, check_params_cb=lambda e: "candidate" in e.message):
        pass
    wait_job(qtbot, job)
    assert job.state.value == "done", getattr(window, "last_error", None) and window.last_error.text()
    assert state_fingerprint(lm.model) == before
    assert panel.tune_button.isEnabled() and panel.preset_choice.count() == 3
    assert panel.preset_choice.itemText(2) == "Tuned for this model"
    assert "held out" in panel.preset_choice.itemData(2, Qt.ItemDataRole.ToolTipRole)
    assert panel.preset_kind() == "default", "offered, not forced on the reviewer"
    box = window.tuned_box  # a search of minutes ends in a box, not only a status line (trial 42)
    assert box.isVisible() and "Tuned ft-m preset saved" in box.text() and "held out" in box.text()
    assert "It changes steps" in box.text() and "→" in box.text(), "what differs from the default (trial 43)"
    use = next(b for b in box.buttons() if b.text() == "Use the tuned preset")
    qtbot.mouseClick(use, Qt.MouseButton.LeftButton)
    assert panel.preset_kind() == "tuned"
    assert panel.hparams() == tuned_preset(lm, "ft-m")
    assert "tuned for this model" in panel.preset_label.text()
    window.queue.select_row(0)
    preview = wait_job(qtbot, window.preview_selected())
    assert preview.state.value == "done"
    tuned = as_dict(tuned_preset(lm, "ft-m"))
    assert window.ws.runs()[-1].hparams == tuned, "the preview ran the tuned preset"
    default = as_dict(panel.default_preset)
    assert tuned != default, "the winner takes twice the steps: the preview shows which preset ran"
    assert set(panel.overrides()) == {k for k in tuned if tuned[k] != default[k]}
    panel.choose_preset("default")
    assert panel.overrides() == {}
    window.close()


def test_cancelling_a_tune_saves_nothing(qtbot, tiny_model_dir, tmp_path, monkeypatch):
    small_grid(monkeypatch)
    window = _window_with_facts(qtbot, tiny_model_dir, tmp_path, FACTS)
    before = state_fingerprint(window.lm.model)
    job = None

    def cancel_on_second(event):
        if event.message.startswith("candidate 2 of"):
            window.cancel_running()

    panel = window.method_panel
    checked = []
    monkeypatch.setattr(panel, "update_stats_status", lambda: checked.append(1))
    job = _start_tuning(qtbot, window)
    job.progressed.connect(cancel_on_second)
    wait_job(qtbot, job)
    assert job.state.value == "cancelled"
    assert checked, "trial 46: the statistics line is read again after a search (it may have computed them)"
    assert state_fingerprint(window.lm.model) == before
    assert not preset_path(window.lm.info.fingerprint, "ft-m").exists()
    assert panel.preset_choice.findData("tuned") < 0 and panel.tune_button.isEnabled()
    window.close()


def test_too_few_facts_is_said_before_anything_runs(qtbot, tiny_model_dir, tmp_path):
    window = _window_with_facts(qtbot, tiny_model_dir, tmp_path, FACTS[:3])
    shown = []
    window.show_error = lambda title, exc: shown.append((title, str(exc)))
    qtbot.mouseClick(window.method_panel.tune_button, Qt.MouseButton.LeftButton)
    assert shown and "at least 4 facts" in shown[0][1]
    assert window.method_panel.tune_job is None and not window.lane.busy
    window.close()


def test_a_named_preset_variant_is_offered_and_reaches_previews(qtbot, tiny_model_dir, tmp_path):
    from core import get_method, preset_variant

    window = _window_with_facts(qtbot, tiny_model_dir, tmp_path, FACTS[:1])
    panel, lm = window.method_panel, window.lm
    assert panel.preset_choice.itemText(1) == "Variant: unconstrained"
    panel.choose_preset("variant:unconstrained")
    assert panel.hparams() == preset_variant(lm, "ft-m", "unconstrained") != get_method("ft-m").preset(lm)
    assert "ft-m preset, variant unconstrained, for" in panel.preset_label.text(), "trial 44: the label follows"
    assert panel.overrides()["layers"] and panel.overrides()["retain_samples"] == "0"
    panel.choose_preset("default")
    assert panel.overrides() == {}
    window.close()


def test_the_dialog_tunes_on_the_selected_facts_and_says_what_it_costs(qtbot, tiny_model_dir, tmp_path, monkeypatch):
    """Trial 36: Tune preset… started at once on the whole queue, with no choice and no budget."""
    from app.dialogs.tune_dialog import TuneDialog
    from core import split_facts

    small_grid(monkeypatch)
    window = _window_with_facts(qtbot, tiny_model_dir, tmp_path, FACTS)
    chosen = [record.fact for record in window.ws.queue()][:5]
    dialog = TuneDialog("ft-m", [r.fact for r in window.ws.queue()], chosen, 4, window)
    qtbot.addWidget(dialog)
    assert dialog.use_selected.isChecked() and dialog.facts() == chosen
    few = TuneDialog("ft-m", [r.fact for r in window.ws.queue()], chosen[:1], 4, window)
    qtbot.addWidget(few)
    assert not few.use_selected.isEnabled() and "select at least 4" in few.use_selected.text(), "trial 44: why"
    tuned, held = split_facts(chosen)
    assert f"{len(tuned)} facts to tune on, {len(held)} held out" in dialog.cost.text()
    assert f"about {4 * len(tuned) + 2 * len(held)} edits" in dialog.cost.text()
    dialog.budget.setValue(4)
    assert dialog.facts() == chosen[:4]
    dialog.use_queue.setChecked(True)
    assert dialog.budget.maximum() == len(FACTS) and len(dialog.facts()) == min(len(FACTS), 40)
    few = TuneDialog("ft-m", [r.fact for r in window.ws.queue()], chosen[:2], 4, window)
    qtbot.addWidget(few)
    assert not few.use_selected.isEnabled() and few.use_queue.isChecked(), "two selected facts cannot be tuned on"
    window.close()


def test_a_search_that_finds_nothing_better_says_so_and_saves_nothing(qtbot, tiny_model_dir, tmp_path, monkeypatch):
    """Trial 44: a 'tuned' preset with the default's held-out figures was saved and offered."""
    import core.workflows.tune as tune_module

    small_grid(monkeypatch)
    monkeypatch.setattr(tune_module.TuneResult, "improves", property(lambda self: False))
    window = _window_with_facts(qtbot, tiny_model_dir, tmp_path, FACTS)
    panel = window.method_panel
    job = _start_tuning(qtbot, window)
    wait_job(qtbot, job)
    assert job.state.value == "done", window.last_error.text()
    box = window.tuned_box
    qtbot.waitUntil(box.isVisible, timeout=5_000)
    assert box.windowTitle() == "Nothing better found" and "Nothing was saved" in box.text()
    assert "default rel" in box.text() and not any(b.text() == "Use the tuned preset" for b in box.buttons())
    assert panel.preset_choice.findData("tuned") < 0 and not preset_path(window.lm.info.fingerprint, "ft-m").exists()
    window.close()


def test_a_preset_tuned_from_the_terminal_is_offered_on_return_to_the_window(qtbot, tiny_model_dir, tmp_path,
                                                                            monkeypatch):
    """Trial 46: `factsmith tune` in a terminal saved a preset the open window offered only after a
    switch to another method and back; and the statistics line said "missing" after a search that
    computed them."""
    from PySide6.QtCore import QEvent

    import app.widgets.method_panel as panel_module

    window = _window_with_facts(qtbot, tiny_model_dir, tmp_path, FACTS)
    panel = window.method_panel
    assert panel.preset_choice.findData("tuned") < 0

    class Stored:
        def summary(self) -> str:
            return "tuned in a terminal"

    monkeypatch.setattr(panel_module, "load_tuned_preset", lambda lm, method: Stored())
    monkeypatch.setattr(window, "isActiveWindow", lambda: True)
    window.changeEvent(QEvent(QEvent.Type.ActivationChange))
    assert panel.preset_choice.findData("tuned") > 0 and panel.preset_kind() == "default", "offered, not chosen"
    panel.preset_choice.setCurrentIndex(panel.preset_choice.findData("tuned"))  # as chosen, then tuned again
    loaded = []
    monkeypatch.setattr(panel, "_load_table", lambda: loaded.append(1))
    window.changeEvent(QEvent(QEvent.Type.ActivationChange))
    assert loaded == [], "the same tuned preset: the table stays as the reviewer left it"

    class Newer(Stored):
        def summary(self) -> str:
            return "tuned again in a terminal"

    monkeypatch.setattr(panel_module, "load_tuned_preset", lambda lm, method: Newer())
    window.changeEvent(QEvent(QEvent.Type.ActivationChange))
    assert loaded == [1], "the chosen tuned preset was replaced: the table shows the new one"
    window.close()
