"""The Train editor dialog's last choices (method, files, checkpoint path), kept in the
settings under train/method, train/data, train/val and train/out so a restart can Resume."""

from __future__ import annotations

from pathlib import Path

from app.dialogs.train_checkpoint import is_default_place
from core import trainable_methods

SETTINGS_PREFIX = "train"


def restore_choices(dialog, settings) -> None:
    """The last run's method, files and checkpoint path (trial 36: after a restart Resume stayed
    grey until the training file was chosen again); a file that is gone is left unchosen."""
    if settings is None:
        return
    method = settings.value(f"{SETTINGS_PREFIX}/method")
    if method in trainable_methods():
        dialog.method.setCurrentText(method)
    for field, key in ((dialog.data, "data"), (dialog.val, "val")):
        path = settings.value(f"{SETTINGS_PREFIX}/{key}")
        if path and Path(path).is_file():
            field.choose(path)
    out = settings.value(f"{SETTINGS_PREFIX}/out") or ""
    if out and not is_default_place(Path(out)):  # a default saved by an earlier version follows the model
        dialog.out.setText(out)  # a path of the reviewer's own


def remember_choices(dialog, settings, default_out: str) -> None:
    """Save the dialog's choices; a checkpoint path equal to the model's default is not kept
    (the default follows the model)."""
    if settings is None:
        return
    own_out = dialog.out.text().strip() not in ("", default_out)
    chosen = {"method": dialog.method.currentText(), "data": dialog.data.chosen(), "val": dialog.val.chosen(),
              "out": dialog.out_path() if own_out else None}
    for key, value in chosen.items():
        settings.set_value(f"{SETTINGS_PREFIX}/{key}", str(value or ""))
