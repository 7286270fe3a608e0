"""The main window's menus, with the shortcuts of the frequent actions."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QLineEdit,
    QMainWindow,
    QMenu,
    QMessageBox,
)

from app.dialogs.about_dialog import about_dialog
from app.dialogs.copy_box import copy_box
from app.slots import no_result
from app.widgets.review_bar import DECISIONS, UNDO_KEY
from app.window_train import open_train_dialog

DECISION_ITEMS = {"approve": "Approve selected facts", "reject": "Reject selected facts (with the note)",
                  "rework": "Mark selected facts as needing rework"}


def _action(menu: QMenu, text: str, slot, shortcut: str | QKeySequence.StandardKey | None = None,
            owned_key: str | None = None) -> QAction:
    """``owned_key``: a key a button or window shortcut already owns, shown in the menu's key column
    (after a tab) without a second shortcut, which would make the key ambiguous. Not on macOS,
    whose native menu makes such text a real key equivalent."""
    shown = owned_key and sys.platform != "darwin"
    action = menu.addAction(f"{text}\t{owned_key}" if shown else text)
    action.triggered.connect(lambda _=False: no_result(slot)())
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    return action


HISTORY_ITEMS = (("diff", "&Diff the two selected commits"), ("revert", "&Revert the selected commit…"),
                 ("revert_edit", "Revert &one edit of the selected commit…"),
                 ("checkout", "&Checkout the selected commit into the model…"),
                 ("save", "&Save the selected commit as a model folder…"), ("tag", "&Tag the selected commit…"))


def _history_menu(window, menu: QMenu) -> None:
    """The History tab's buttons from the keyboard (trial 38: they were mouse-only): each item
    is live when its button is, and brings the tab forward before acting."""
    buttons = window.history.buttons
    actions = {}
    for name, text in HISTORY_ITEMS:
        actions[name] = _action(menu, text, lambda n=name: _on_history_tab(window, buttons[n]))
    menu.aboutToShow.connect(lambda: [a.setEnabled(buttons[n].isEnabled()) for n, a in actions.items()])
    menu.addSeparator()
    _action(menu, "&Show the commit list", lambda: _show_history(window), "Ctrl+H")


def _show_history(window) -> None:
    """The History tab with the keyboard in its commit list: arrows select, then the items above act."""
    window.tabs.setCurrentWidget(window.history)
    tree = window.history.tree
    tree.setFocus()
    if not tree.selectedItems() and tree.topLevelItemCount():  # HEAD selected: the arrows move from it
        tree.setCurrentItem(tree.topLevelItem(0))
        tree.topLevelItem(0).setSelected(True)


def _on_history_tab(window, button) -> None:
    window.tabs.setCurrentWidget(window.history)
    button.click()


def _fill_recent(menu: QMenu, paths: list[str], open_path) -> None:
    menu.clear()
    for path in paths:
        action = menu.addAction(path)
        action.triggered.connect(lambda _=False, p=path: open_path(Path(p)))
    menu.setEnabled(bool(paths))


def build_menus(window: QMainWindow) -> None:
    bar = window.menuBar()
    file = bar.addMenu("&File")
    _action(file, "Open model folder…", window.choose_model_folder, "Ctrl+O")
    recent_models = file.addMenu("Recent models")
    recent_models.aboutToShow.connect(
        lambda: _fill_recent(recent_models, window.settings.recent_models(), window.load_model_folder))
    _action(file, "Load / reload model", window.model_panel.request_load, "Ctrl+L")
    _action(file, "Eject model", window.eject)
    file.addSeparator()
    _action(file, "New workspace…", window.choose_new_workspace)
    _action(file, "Open workspace…", window.choose_workspace, "Ctrl+Shift+O")
    recent_ws = file.addMenu("Recent workspaces")
    recent_ws.aboutToShow.connect(
        lambda: _fill_recent(recent_ws, window.settings.recent_workspaces(), window.open_workspace))
    file.addSeparator()
    _action(file, "Import facts…", window.open_import_dialog, "Ctrl+I")
    _action(file, "Export…", window.open_export_dialog, "Ctrl+E")
    _action(file, "Apply patch…", window.open_patch_apply_dialog)
    file.addSeparator()
    _action(file, "Quit", window.close, QKeySequence.StandardKey.Quit)
    edit = bar.addMenu("&Edit")
    _action(edit, "New fact", window.new_fact, "Ctrl+N")
    _action(edit, "Undo last review decision", window.undo_review, owned_key=UNDO_KEY)
    _action(edit, "Find facts", window.queue.focus_search, owned_key="Ctrl+F")
    review = bar.addMenu("Re&view")
    # The keys are the window's own shortcuts (main_window), which work on every tab
    _action(review, "Preview edit of selected facts", window.preview_panel.request, owned_key="Ctrl+P")
    review.addSeparator()
    for decision, _label, key in DECISIONS:
        _action(review, DECISION_ITEMS[decision], lambda d=decision: window.review_bar.decide(d), owned_key=key)
    _action(review, "Undo last review decision", window.undo_review, owned_key=UNDO_KEY)
    review.addSeparator()
    _action(review, "Causal trace of selected fact", window.trace_view.trace_requested.emit)
    _action(review, "Commit approved edits…", window.open_commit_dialog, "Ctrl+K")
    _action(review, "Cancel running job", window.cancel_running, owned_key="Esc")
    _history_menu(window, bar.addMenu("Hi&story"))  # Alt+H is Help's
    tools = bar.addMenu("&Tools")
    _action(tools, "Train editor…", lambda: open_train_dialog(window))
    help_menu = bar.addMenu("&Help")
    window.open_log_action = _action(help_menu, "Open log", lambda: open_log(window))
    _action(help_menu, "About Factsmith…", lambda: open_about(window))


def warn_in_use(window, exc) -> QMessageBox:
    """Another running Factsmith has this workspace open: say so, and offer to quit."""
    box = QMessageBox(QMessageBox.Icon.Warning, "Workspace already open",
                      f"{str(exc)[:1].upper()}{str(exc)[1:]}.", parent=window)
    box.setObjectName("workspace-in-use")
    box.setInformativeText("Two windows on one workspace each keep their own draft, undo and live model, and "
                           "would review and commit over each other's work. Quit here and use the other window, "
                           "or continue only if that one is idle.")
    quit_button = box.addButton("Quit", QMessageBox.ButtonRole.RejectRole)
    box.addButton("Continue anyway", QMessageBox.ButtonRole.AcceptRole)
    box.setDefaultButton(quit_button)

    def clicked(button) -> None:  # returns None: PySide6 6.12 mis-counts a slot's bool result
        if button is quit_button:
            window.close()

    box.buttonClicked.connect(clicked)
    window.in_use_box = box
    box.open()
    return box


def open_about(window) -> None:
    window.about = about_dialog(window)
    window.about.open()


def open_log(window) -> bool:
    """Open the log file (warnings and error details) in the desktop's viewer; where there is
    none (no xdg-open, or it failed), a dialog shows the path, to copy."""
    path = window.log_file
    path.touch(exist_ok=True)
    window.notify(f"Log: {path}", written=path)
    no_launcher = sys.platform.startswith("linux") and shutil.which("xdg-open") is None
    if not no_launcher and QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))):
        return True
    window.log_dialog = log_path_dialog(window, path)
    window.log_dialog.open()
    return False


def log_path_dialog(parent, path: Path) -> QDialog:
    field = QLineEdit(str(path))
    field.setReadOnly(True)
    field.setObjectName("log-path")
    field.setMinimumWidth(field.fontMetrics().horizontalAdvance(str(path)) + 30)
    field.selectAll()
    dialog = copy_box(parent, "Log file", "No program to open it with was found on this desktop. The log is at:",
                      field, str(path), "Copy path")
    dialog.path_field = field
    return dialog
