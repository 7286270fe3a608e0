"""The Train dialog's last line and the method panel's checkpoint list name the editor that
edits: the kept one's step and validation where training went on past it."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.methods.editor_ckpt import CheckpointEntry, EditorRecord

pytestmark = pytest.mark.gui

VALIDATION = ({"step": 4, "reliability": 0.97, "generality": 0.82, "locality": 0.93},
              {"step": 8, "reliability": 0.97, "generality": 0.85, "locality": 0.85})


def _record(best_step: int) -> EditorRecord:
    return EditorRecord("ke", "f" * 64, "demo-model", "d" * 64, {}, 8, validation=VALIDATION, best_step=best_step)


def test_the_kept_editor_is_named_with_its_own_validation():
    from app.dialogs.train_checkpoint import kept_text
    from app.widgets.checkpoint_choice import entry_text

    kept = _record(4)
    assert kept_text(kept) == ("; edits with the editor of step 4, whose validation best met the targets "
                               "(reliability 0.970, generality 0.820, locality 0.930)")
    assert entry_text(CheckpointEntry(Path("ke.safetensors"), kept), default=True) == (
        "ke.safetensors · 8 steps (edits with step 4) · val. reliability 0.97 (default)")
    last = _record(0)
    assert kept_text(last) == "; validation reliability 0.970, generality 0.850, locality 0.850"
    assert entry_text(CheckpointEntry(Path("ke.safetensors"), last), default=False) == (
        "ke.safetensors · 8 steps · val. reliability 0.97")
