"""File choosers that never read the files they list.

Qt's file dialog reads the first bytes of each file it lists to choose its icon (and a
native one running in this process does the same). Reading, then closing, a workspace file
drops every POSIX lock this process holds on it, SQLite's included: another process closing
its connection then deletes the -wal under the window's open one (``core.ledger.opening``).
These choosers are Qt's own dialog with an icon provider that goes by the name alone. Call
them through the module (``file_dialogs.open_file_name``) so tests can stand in for them.
"""

from __future__ import annotations

from PySide6.QtCore import QFileInfo
from PySide6.QtWidgets import QDialog, QFileDialog, QFileIconProvider, QWidget


class NameOnlyIconProvider(QFileIconProvider):
    """Icons and type names from what a path is (file or folder) and its suffix, never its bytes."""

    def icon(self, what):
        if isinstance(what, QFileInfo):
            kind = QFileIconProvider.IconType.Folder if what.isDir() else QFileIconProvider.IconType.File
            return super().icon(kind)
        return super().icon(what)

    def type(self, info: QFileInfo) -> str:
        if info.isDir():
            return "Folder"
        return f"{info.suffix()} file" if info.suffix() else "File"


class NameOnlyFileDialog(QFileDialog):
    """Qt's (not the native) file dialog, listing by name only; holds its icon provider."""

    def __init__(self, parent: QWidget | None, caption: str, directory: str, name_filter: str) -> None:
        super().__init__(parent, caption, directory, name_filter)
        self.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        self._icons = NameOnlyIconProvider()  # lives as long as the dialog that uses it
        self.setIconProvider(self._icons)

    def chosen(self) -> str:
        """Run it; the chosen path, or "" when cancelled."""
        try:
            accepted = self.exec() == QDialog.DialogCode.Accepted
            return self.selectedFiles()[0] if accepted and self.selectedFiles() else ""
        finally:
            self.deleteLater()


def open_file_name(parent: QWidget | None, caption: str, directory: str = "", name_filter: str = "") -> str:
    dialog = NameOnlyFileDialog(parent, caption, directory, name_filter)
    dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
    return dialog.chosen()


def save_file_name(parent: QWidget | None, caption: str, directory: str = "", name_filter: str = "") -> str:
    """Asks before replacing an existing file, as Qt's static chooser does."""
    dialog = NameOnlyFileDialog(parent, caption, directory, name_filter)
    dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
    dialog.setFileMode(QFileDialog.FileMode.AnyFile)
    return dialog.chosen()


def existing_directory(parent: QWidget | None, caption: str, directory: str = "") -> str:
    dialog = NameOnlyFileDialog(parent, caption, directory, "")
    dialog.setFileMode(QFileDialog.FileMode.Directory)
    dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
    return dialog.chosen()
