"""Tools → Train editor…: one train dialog per window (training goes on when it is closed);
each checkpoint it writes is remembered and listed in the method panel."""

from __future__ import annotations

from pathlib import Path

from app.dialogs.train_dialog import TrainDialog


def open_train_dialog(window, method: str | None = None) -> TrainDialog:
    dialog = getattr(window, "train_dialog", None)
    if dialog is None:
        dialog = window.train_dialog = TrainDialog(window.session, window)
        dialog.trained.connect(lambda path: _trained(window, Path(path)))
    if method:
        dialog.method.setCurrentText(method)
    dialog.show()
    dialog.raise_()
    dialog.activateWindow()
    return dialog


def _trained(window, path: Path) -> None:
    window.settings.add_recent_checkpoint(path)
    window.method_panel.refresh_checkpoints(window.settings.recent_checkpoints())
    window.notify(f"Editor checkpoint written: {path}; choose it under Method → Editor", written=path)
