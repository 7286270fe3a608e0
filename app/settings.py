"""Persistent settings (QSettings): recent models and workspaces, thresholds, geometry.

Tests point QSettings at a temporary folder (``use_settings_folder``) so nothing leaks
between them or into the user's real settings.
"""

from __future__ import annotations

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

    def threshold(self, metric: str) -> float:
        return float(self._q.value(f"thresholds/{metric}", DEFAULT_THRESHOLDS[metric]))

    def set_threshold(self, metric: str, value: float) -> None:
        self._q.setValue(f"thresholds/{metric}", float(value))

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
