"""Error dialogs that say what happened and what to do about it."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget

from core import (
    CheckpointError,
    DamagedWorkspaceError,
    EditError,
    FactError,
    FactsFileError,
    HParamError,
    InsufficientMemory,
    LedgerError,
    ModelLoadError,
    TuneError,
    VerificationError,
    WorkspaceBusyError,
)

# what a reviewer's input can cause (a wrong folder, a patch for another model, a bad file), each said
# to the user in words that name the problem: the log keeps a line, not a traceback (trial 42)
USER_ERRORS = (LedgerError, ModelLoadError, FactsFileError, FactError, TuneError, HParamError, InsufficientMemory,
               CheckpointError)
FAULTS = (VerificationError, DamagedWorkspaceError)  # ledger errors that are not the reviewer's input


def is_user_error(exc: BaseException) -> bool:
    """Bad input whose message says all there is to say (no traceback to look up in the log)."""
    return isinstance(exc, USER_ERRORS) and not isinstance(exc, FAULTS)

_ADVICE: tuple[tuple[type[BaseException], str], ...] = (
    (InsufficientMemory, "Pick a smaller dtype or another device in the Model panel, or tick "
                         "'Ignore memory check' if you know it fits."),
    (ModelLoadError, "Choose a folder with config.json, tokenizer files and .safetensors weights."),
    (FactsFileError, "Fix the named rows in the file (or the column mapping) and import again; "
                     "nothing was imported."),
    (FactError, "Correct the highlighted field and try again."),
    (HParamError, "Correct the hyperparameter value in the Method panel (or reset to the preset)."),
    (WorkspaceBusyError, "Another program is writing to this workspace; wait a moment and retry."),
    (LedgerError, "Nothing was changed in the workspace. Check the message, then try again."),
    (EditError, "The model is unchanged. Try other hyperparameters or another method."),
    (MemoryError, "Close other programs or choose a smaller model or dtype."),
)


def advice_for(exc: BaseException) -> str:
    for kind, advice in _ADVICE:
        if isinstance(exc, kind):
            return advice
    return "The model and the workspace are unchanged. Check the message and try again; the log has details."


def describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    more = getattr(exc, "more", ())
    if more:
        text += "\n" + "\n".join(str(e) for e in more[:10])
    return text


def error_box(parent: QWidget | None, title: str, exc: BaseException) -> QMessageBox:
    """A non-blocking (window-modal) error dialog; returned so tests can read it."""
    box = QMessageBox(QMessageBox.Icon.Critical, title, describe(exc), parent=parent)
    box.setObjectName("error-dialog")
    box.setInformativeText(advice_for(exc))
    box.open()
    return box


def confirm_box(parent: QWidget | None, title: str, text: str, on_yes, yes_text: str = "") -> QMessageBox:
    """A non-blocking (window-modal) question; ``on_yes()`` runs only when the user confirms
    (``yes_text``: the Yes button's words, e.g. "Commit anyway")."""
    yes, cancel = QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.Cancel
    box = QMessageBox(QMessageBox.Icon.Question, title, text, yes | cancel, parent)
    box.setObjectName("confirm-dialog")
    box.setDefaultButton(cancel)
    if yes_text:
        box.button(yes).setText(yes_text)

    def clicked(button) -> None:  # returns None: PySide6 6.12 mis-counts a slot's bool result
        if box.standardButton(button) == yes:
            on_yes()

    box.buttonClicked.connect(clicked)
    box.open()
    return box
