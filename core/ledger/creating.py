"""Creating and connecting a workspace's store: the steps before ``Workspace`` exists."""

from __future__ import annotations

import getpass
import json
import logging
import os
from pathlib import Path

from core.ledger import commits
from core.ledger.db import Store, connect, now, query_only
from core.ledger.errors import LedgerError
from core.ledger.schema import migrate, refuse_unmigrated

log = logging.getLogger(__name__)

AUTHOR_ENV = "FACTSMITH_AUTHOR"


def resolve_author(author: str | None = None) -> str:
    """--author, else FACTSMITH_AUTHOR, else the operating system's user name."""
    chosen = (author or os.environ.get(AUTHOR_ENV) or "").strip()
    if chosen:
        return chosen
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


def model_folder(model_dir: str | Path) -> tuple[Path, str, str]:
    """(folder, model type, folder fingerprint) of a Hugging Face model folder."""
    from core.model.fingerprint import folder_fingerprint

    folder = Path(model_dir).expanduser().resolve()
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LedgerError(f"{folder} is not a Hugging Face model folder (config.json: {exc})") from None
    try:
        return folder, str(config.get("model_type", "unknown")), folder_fingerprint(folder)
    except FileNotFoundError as exc:
        raise LedgerError(str(exc)) from None


def new_store(path: Path, model_dir: str | Path, author: str | None, busy_seconds: float) -> Store:
    """A new workspace file for the base model in ``model_dir``; refuses an existing file."""
    if path.exists() and (path.is_dir() or path.stat().st_size):
        raise LedgerError(f"{path} already exists; open it, or choose a new file for the workspace")
    folder, architecture, fingerprint = model_folder(model_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    store = open_store(path, author, busy_seconds)
    with store.writing():
        if store.scalar("SELECT COUNT(*) FROM base_models"):
            raise LedgerError(f"{path} was initialised meanwhile by another process")
        store.db.execute("INSERT INTO base_models (name, path, fingerprint, architecture, created_at) "
                         "VALUES (?, ?, ?, ?, ?)", (folder.name, str(folder), fingerprint, architecture, now()))
        commits.insert_commit(store, None, "root", f"base model {folder.name}")
    log.info("workspace %s created on %s (%s)", path, folder, fingerprint[:12])
    return store


def open_store(path: Path, author: str | None, busy_seconds: float, *, existing: bool = False,
               read_only: bool = False, verify: bool = True) -> Store:
    """The store of ``path``, migrated (or, read-only, refused when it needs migrating)."""
    db = connect(path, busy_seconds, existing=existing, read_only=read_only, verify=verify)
    try:
        if read_only:
            refuse_unmigrated(db, path)
            query_only(db)
        else:
            migrate(db, path, busy_seconds)
    except BaseException:
        db.close()
        raise
    return Store(db, path, resolve_author(author), busy_seconds)
