"""The model panel's memory estimate and load options; checkout of a commit into the live model."""

import pytest

from app.widgets.model_panel import ModelPanel
from core.util.paths import demo_model_dir

pytestmark = pytest.mark.gui


def test_memory_estimate_shows_need_and_warns_for_unloadable_folders(qtbot, tmp_path):
    panel = ModelPanel(recent=[str(tmp_path)])
    qtbot.addWidget(panel)
    panel.set_folder(demo_model_dir())
    assert panel.update_estimate()
    assert "GiB on cpu" in panel.memory.text() or "GiB on cuda" in panel.memory.text()
    panel.set_folder(tmp_path)
    assert not panel.update_estimate()
    assert "config.json" in panel.memory.text()
    panel.dtype.setCurrentText("float16")
    panel.ignore_memory.setChecked(True)
    options = panel.options()
    assert options.dtype == "float16" and options.ignore_memory_check
    emitted = []
    panel.load_requested.connect(lambda path, opts: emitted.append((path, opts)))
    panel.load_button.click()
    assert emitted[0][0] == tmp_path


def test_typed_review_note_and_free_prompts_survive_a_restart(qtbot):
    from app.main_window import MainWindow

    first = MainWindow()
    qtbot.addWidget(first)
    first.preview_panel.free_prompts.setPlainText("Paris is the capital of\nRome is in")
    first.review_bar.note.setText("check the source")
    del first  # no close(): as after a crash
    second = MainWindow()
    qtbot.addWidget(second)
    assert second.preview_panel.prompts() == ["Paris is the capital of", "Rome is in"]
    assert second.review_bar.note.text() == "check the source"


def test_method_panel_shows_every_registered_method_with_its_preset(qtbot, demo_lm):
    from app.widgets.method_panel import MethodPanel
    from core.methods import method_names

    panel = MethodPanel()
    qtbot.addWidget(panel)
    panel.set_model(demo_lm)
    shown = [panel.method.itemText(i) for i in range(panel.method.count())]
    assert shown == method_names() and {"rome", "ft-m"} <= set(shown)
    for name in shown:
        panel.method.setCurrentText(name)
        assert panel.table.rowCount() > 0 and f"{name} preset for gpt2" in panel.preset_label.text()
        assert panel.overrides() == {} and panel.hparams() == panel.preset
        hidden = sum(panel.table.isRowHidden(r) for r in range(panel.table.rowCount()))
        panel.advanced.setChecked(True)
        assert not any(panel.table.isRowHidden(r) for r in range(panel.table.rowCount()))
        panel.advanced.setChecked(False)
        assert sum(panel.table.isRowHidden(r) for r in range(panel.table.rowCount())) == hidden
