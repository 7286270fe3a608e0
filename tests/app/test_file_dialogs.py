"""Choosing a file next to the open workspace leaves it shared with other processes (trial 32's
review): Qt's own file dialog read each listed file to pick its icon, which dropped this
process's SQLite locks on the workspace (``app.file_dialogs``, ``core.ledger.opening``)."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QFileDialog

from app.file_dialogs import NameOnlyFileDialog, NameOnlyIconProvider
from core.ledger import Workspace
from tests.core.ledger.helpers import make_fact
from tests.core.ledger.test_shared_with_other_processes import _facts_another_process_sees

pytestmark = pytest.mark.gui


def _list_folder(qtbot, dialog) -> None:
    """Show the dialog on its folder long enough for its model to list (and type) the files."""
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.wait(1500)
    dialog.reject()


def test_listing_the_workspaces_folder_keeps_the_open_connections_log(qtbot, tmp_path, tiny_model_dir):
    path = tmp_path / "edits.factsmith"
    with Workspace.create(path, tiny_model_dir("gpt2"), author="alice") as ws:
        ws.add_facts([make_fact(1)])
        dialog = NameOnlyFileDialog(None, "Open workspace", str(tmp_path), "Workspaces (*.factsmith);;All (*)")
        assert dialog.testOption(QFileDialog.Option.DontUseNativeDialog)
        _list_folder(qtbot, dialog)
        assert _facts_another_process_sees(path) == 1
        assert path.with_name(f"{path.name}-wal").exists(), "the log was deleted under the open connection"
        ws.add_facts([make_fact(2)])
        assert _facts_another_process_sees(path) == 2


def test_icons_and_types_come_from_the_name(tmp_path):
    from PySide6.QtCore import QFileInfo

    provider = NameOnlyIconProvider()
    (tmp_path / "a.factsmith").write_bytes(b"SQLite format 3\x00")
    assert provider.type(QFileInfo(str(tmp_path / "a.factsmith"))) == "factsmith file"
    assert provider.type(QFileInfo(str(tmp_path))) == "Folder"
    assert not provider.icon(QFileInfo(str(tmp_path / "a.factsmith"))).isNull()
