"""The ledger's errors: each message names what is wrong and where."""

from __future__ import annotations


class LedgerError(ValueError):
    """A workspace operation cannot be done as asked; nothing was changed."""


class CommitRefused(LedgerError):
    """The commit gate refused the runs; ``gate`` (a GateCheck) says which and why; ``together``
    (a TogetherFigures, or None) is what was measured, for a forced commit to reuse."""

    def __init__(self, message: str, gate, together=None) -> None:
        super().__init__(message)
        self.gate, self.together = gate, together


class WorkspaceBusyError(LedgerError):
    """Another process held the workspace's write lock for longer than the wait allows."""


class WorkspaceInUseError(LedgerError):
    """Another running Factsmith (``holder``: a ``LockHolder``) has the workspace open."""

    def __init__(self, message: str, holder: object = None) -> None:
        super().__init__(message)
        self.holder = holder


class SchemaError(LedgerError):
    """The file is not a Factsmith workspace, or its schema is newer than this Factsmith."""


class RefError(LedgerError):
    """A commit reference (id, prefix, tag, HEAD~N) names no commit, or several."""


class ReviewError(LedgerError):
    """A review decision is not allowed (unknown fact, missing note, committed fact...)."""


class ImportConflictError(LedgerError):
    """An import was refused because rows contradict approved or committed facts."""

    def __init__(self, message: str, conflicts: tuple = ()) -> None:
        super().__init__(message)
        self.conflicts = conflicts


class PatchError(LedgerError):
    """A patch file is unreadable, does not fit the model, or a delta in it is corrupt.

    ``consent``: "unsigned" or "untrusted" when the patch is refused only because the
    reviewer did not accept that; ``reason`` then says why without naming a CLI flag, so
    each interface can name its own way to accept it."""

    def __init__(self, message: str, consent: str | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.consent, self.reason = consent, reason or message


class VerificationError(LedgerError):
    """Materialised weights differ from what the workspace recorded for that state."""


class DamagedWorkspaceError(LedgerError):
    """SQLite finds the workspace file damaged: nothing is written into it."""


class ReadOnlyWorkspaceError(LedgerError):
    """The workspace file (or its folder) cannot be written, and the command would write."""
