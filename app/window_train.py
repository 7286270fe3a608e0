"""Tools → Train editor…: one train dialog per window (training goes on when it is closed);
each checkpoint it writes is remembered and listed in the method panel."""

from __future__ import annotations

from pathlib import Path

from app.dialogs.train_dialog import TrainDialog
from app.widgets.method_panel import MISSING_EDITOR


def open_train_dialog(window, method: str | None = None) -> TrainDialog:
    dialog = getattr(window, "train_dialog", None)
    if dialog is None:
        dialog = window.train_dialog = TrainDialog(window.session, window, window.settings)
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
    # the preview pane may still say the editor is missing (trial 36): it is there now
    if window.preview_panel.state.text().startswith(MISSING_EDITOR) and not window.method_panel.missing_editor():
        window.preview_panel.state.setText(f"Editor trained ({path.name}), chosen under Method → Editor: "
                                           "Preview uses it")
    window.notify(f"Editor checkpoint written: {path}; choose it under Method → Editor", written=path)
