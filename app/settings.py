"""Persistent settings (QSettings): recent models and workspaces, thresholds, geometry.

Tests point QSettings at a temporary folder (``use_settings_folder``) so nothing leaks
between them or into the user's real settings.
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from core import DEFAULT_THRESHOLDS

RECENT_LIMIT = 8


def use_settings_folder(folder: Path) -> None:
    """Store settings as INI files under ``folder`` (tests, portable installs)."""
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))


class AppSettings:
    def __init__(self) -> None:
        self._q = QSettings()

    def _list(self, key: str) -> list[str]:
        value = self._q.value(key, [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def _push(self, key: str, item: str) -> None:
        items = [item] + [v for v in self._list(key) if v != item]
        self._q.setValue(key, items[:RECENT_LIMIT])

    def recent_models(self) -> list[str]:
        return self._list("recent/models")

    def add_recent_model(self, path: str | Path) -> None:
        self._push("recent/models", str(path))

    def recent_workspaces(self) -> list[str]:
        return self._list("recent/workspaces")

    def add_recent_workspace(self, path: str | Path) -> None:
        self._push("recent/workspaces", str(path))

    def recent_checkpoints(self) -> list[str]:
        """Editor checkpoints trained here (the method panel lists them beside the editors folder)."""
        return self._list("recent/checkpoints")

    def add_recent_checkpoint(self, path: str | Path) -> None:
        self._push("recent/checkpoints", str(path))

    def threshold(self, metric: str) -> float:
        return float(self._q.value(f"thresholds/{metric}", DEFAULT_THRESHOLDS[metric]))

    def set_threshold(self, metric: str, value: float) -> None:
        self._q.setValue(f"thresholds/{metric}", float(value))

    def checkouts(self) -> dict[str, str]:
        """Workspace path → the commit its live model held when it was not HEAD."""
        try:
            value = json.loads(self.value("live/checkouts", "{}") or "{}")
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    def set_checkout(self, workspace: str | Path, commit_id: str | None) -> None:
        checkouts = self.checkouts()
        if commit_id:
            checkouts[str(workspace)] = commit_id
        else:
            checkouts.pop(str(workspace), None)
        self.set_value("live/checkouts", json.dumps(checkouts))
        self.sync()

    def geometry(self) -> QByteArray | None:
        value = self._q.value("window/geometry")
        return value if isinstance(value, QByteArray) else None

    def set_geometry(self, geometry: QByteArray) -> None:
        self._q.setValue("window/geometry", geometry)

    def value(self, key: str, default: str = "") -> str:
        return str(self._q.value(key, default))

    def set_value(self, key: str, value: str) -> None:
        self._q.setValue(key, value)

    def sync(self) -> None:
        self._q.sync()
