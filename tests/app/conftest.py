"""GUI tests: offscreen Qt, settings and workspaces in temporary folders, small covariance statistics."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_app_state(tmp_path, monkeypatch, qapp):
    """Each test gets its own QSettings folder and data folder (default workspaces)."""
    from app.settings import use_settings_folder

    qapp.setOrganizationName(f"FactsmithTest-{tmp_path.name}")
    qapp.setApplicationName("Factsmith")
    use_settings_folder(tmp_path / "settings")
    monkeypatch.setenv("FACTSMITH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FACTSMITH_AUTHOR", "tester")
