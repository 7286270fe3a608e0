"""File → Apply patch…: an unsigned patch is refused until the reviewer ticks the box; the
patched folder is written on the job lane and the status bar says who signed it."""

from __future__ import annotations

import pytest

from core.ledger import Workspace
from core.model.fingerprint import state_fingerprint
from core.model.loading import LoadOptions, load_model
from tests.app.helpers import open_window, wait_job
from tests.core.ledger.helpers import add_run_approve, make_facts

pytestmark = pytest.mark.gui


@pytest.fixture
def unsigned_patch(tmp_path, tiny_model_dir):
    """A two-edit patch exported with no author key (the test's config folder has none)."""
    with Workspace.create(tmp_path / "src.factsmith", tiny_model_dir("gpt2"), author="bob") as ws:
        add_run_approve(ws, make_facts(2))
        ws.commit("two")
        ws.export_patch(tmp_path / "two.fspatch")
        head = ws.checkout("HEAD", options=LoadOptions(device="cpu")).weights_fingerprint
    return tmp_path / "two.fspatch", head


def test_an_unsigned_patch_needs_the_reviewers_consent(qtbot, tiny_model_dir, tmp_path, unsigned_patch):
    patch, head = unsigned_patch
    window = open_window(qtbot, model_path=tiny_model_dir("gpt2"))
    dialog = window.open_patch_apply_dialog()
    assert dialog.model.text() == str(window.lm.info.path)
    assert not dialog.allow_unsigned.isChecked() and not dialog.allow_untrusted.isChecked()
    dialog.patch.setText(str(patch))
    dialog.out.setText(str(tmp_path / "patched"))
    refused = wait_job(qtbot, window.apply_patch(dialog.choice()))
    assert refused.state.value == "failed" and "unsigned" in window.last_error.text()
    assert not (tmp_path / "patched").exists()

    dialog.allow_unsigned.setChecked(True)
    dialog.verify.setChecked(True)  # rehash the base folder in full first
    applied = wait_job(qtbot, window.apply_patch(dialog.choice()))
    assert applied.state.value == "done", window.last_error.text()
    assert "unsigned, applied as you allowed" in window.message.text()
    assert state_fingerprint(load_model(tmp_path / "patched", LoadOptions(device="cpu")).model) == head
    window.close()


def test_the_dialog_stays_open_on_a_refusal_in_its_own_terms_and_says_when_applied(qtbot, tiny_model_dir, tmp_path,
                                                                                  unsigned_patch):
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QDialogButtonBox

    patch, _ = unsigned_patch
    window = open_window(qtbot, model_path=tiny_model_dir("gpt2"))
    dialog = window.open_patch_apply_dialog()
    dialog.patch.setText(str(patch))
    dialog.out.setText(str(tmp_path / "patched"))
    apply = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    qtbot.mouseClick(apply, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Not applied" in dialog.state.text(), timeout=60_000)
    said = dialog.state.text()
    assert "--allow-unsigned" not in said and f"tick “{dialog.allow_unsigned.text()}”" in said
    assert dialog.isVisible() and dialog.patch.text() == str(patch) and dialog.out.text() == str(tmp_path / "patched")
    qtbot.waitUntil(apply.isEnabled, timeout=5_000)
    dialog.allow_unsigned.setChecked(True)
    qtbot.mouseClick(apply, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=120_000)
    box = window.patch_applied_box
    assert box.isVisible() and "Applied 2 edit(s)" in box.text() and str(tmp_path / "patched") in box.text()
    window.close()


def test_the_box_warns_when_an_edit_does_not_hold_on_the_patched_model(qtbot, tiny_model_dir, tmp_path):
    """A run that showed reliability 1.0 when computed, whose (hand-made) delta does not make the
    random model say its answer: applying the patch measures it and the box says so."""
    from tests.core.ledger.helpers import hand_delta, make_fact

    fact = make_fact(0)
    with Workspace.create(tmp_path / "src.factsmith", tiny_model_dir("gpt2"), author="bob") as ws:
        ws.add_facts([fact])
        ws.record_run(facts=[fact], delta=hand_delta(fact), computed_on=ws.head().state_fingerprint,
                      hparams={"seed": 0}, seconds=0.01,
                      metrics={"protocol": "teacher_forced", "pre": {"reliability": 0.0},
                               "post": {"reliability": 1.0}},
                      previews={"prompt": fact.prompt, "before": " Old", "after": " City0"},
                      environment={"seed": 0, "device": "cpu", "dtype": "float32", "torch": "test"})
        ws.review(fact.id, "approve")
        ws.commit("claims to hold", force=True)
        ws.export_patch(tmp_path / "one.fspatch")
    window = open_window(qtbot, model_path=tiny_model_dir("gpt2"))
    dialog = window.open_patch_apply_dialog()
    dialog.patch.setText(str(tmp_path / "one.fspatch"))
    dialog.out.setText(str(tmp_path / "patched"))
    dialog.allow_unsigned.setChecked(True)
    applied = wait_job(qtbot, window.apply_patch(dialog.choice()))
    assert applied.state.value == "done", window.last_error.text()
    box = window.patch_applied_box
    assert box.icon() == box.Icon.Warning
    assert "Measured on the patched model: 1 of 1 edit(s) do not hold" in box.text()
    assert "reliability 0.00 here, 1.00 when computed" in box.text()
    assert "some edits do not hold there" in window.message.text()
    window.close()
