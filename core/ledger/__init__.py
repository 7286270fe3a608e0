"""The versioned edit log: a workspace of facts, reviews, edit runs and commits (issue 4).

Qt-free; the CLI (``core.cli.commands_ledger``) and the GUI both drive ``Workspace``.
"""

from __future__ import annotations

from core.ledger.creating import AUTHOR_ENV, resolve_author
from core.ledger.errors import (
    ImportConflictError,
    LedgerError,
    PatchError,
    RefError,
    ReviewError,
    SchemaError,
    VerificationError,
    WorkspaceBusyError,
)
from core.ledger.patches import apply_patch, read_patch
from core.ledger.records import STATUSES
from core.ledger.workspace import WORKSPACE_ENV, Workspace, open_workspace

__all__ = [
    "AUTHOR_ENV",
    "STATUSES",
    "WORKSPACE_ENV",
    "ImportConflictError",
    "LedgerError",
    "PatchError",
    "RefError",
    "ReviewError",
    "SchemaError",
    "VerificationError",
    "Workspace",
    "WorkspaceBusyError",
    "apply_patch",
    "open_workspace",
    "read_patch",
    "resolve_author",
]
