"""Where Factsmith finds its bundled assets and keeps its caches."""

from __future__ import annotations

import os
from pathlib import Path

DEMO_MODEL_ENV = "FACTSMITH_DEMO_MODEL"
CACHE_ENV = "FACTSMITH_CACHE_DIR"
DATA_ENV = "FACTSMITH_DATA_DIR"


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def demo_model_dir() -> Path:
    """The bundled demo model (override with FACTSMITH_DEMO_MODEL)."""
    override = os.environ.get(DEMO_MODEL_ENV)
    return Path(override) if override else repo_root() / "assets" / "demo-model"


def demo_edits_file() -> Path:
    return demo_model_dir() / "demo_edits.jsonl"


def demo_editor_train_file() -> Path:
    """The demo model's training requests for trained editors (MEND; subjects 0-b)."""
    return demo_model_dir() / "editor_train.jsonl"


def demo_editor_val_file() -> Path:
    """Held-out requests (the quality dev split) for validating a trained editor."""
    return demo_model_dir() / "quality_dev.jsonl"


def cache_dir() -> Path:
    """Per-user cache (fingerprints, covariance statistics); FACTSMITH_CACHE_DIR overrides."""
    override = os.environ.get(CACHE_ENV)
    if override:
        path = Path(override)
    else:
        from platformdirs import user_cache_dir

        path = Path(user_cache_dir("factsmith", appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """The user's Factsmith data folder (override with FACTSMITH_DATA_DIR)."""
    from platformdirs import user_data_dir

    return Path(os.environ.get(DATA_ENV) or user_data_dir("factsmith", appauthor=False))


def default_workspace_path(model_name: str, fingerprint: str) -> Path:
    """Where the workspace for a model lives unless the user picks another one (app and CLI alike)."""
    return data_dir() / "workspaces" / f"{model_name}-{fingerprint[:12]}.factsmith"
