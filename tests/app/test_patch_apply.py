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
