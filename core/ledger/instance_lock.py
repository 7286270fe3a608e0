"""Which program has a workspace open: a lock file beside it (``<name>.lock``) naming the
process, so a second window on the same workspace is told, not silently raced. (The window
takes it; the CLI's writing commands refuse a workspace a live window holds, unless
``--ignore-lock``, and reading ones go ahead. Two processes starting in the same instant can both pass the
check, and a crashed holder's process id reused by another program keeps its lock "alive":
the window then offers Continue anyway.)

SQLite already serialises writes; this lock is advisory and about people: two windows on
one workspace each keep a draft, an undo stack and a live model, and each would act on a
queue the other changes. A lock whose process is gone (a crash) is stale and taken over.
"""

from __future__ import annotations

from pathlib import Path

from core.ledger.db import now
from core.ledger.errors import WorkspaceInUseError
from core.util.pid_lock import LockedError, LockHolder, PidLock, lock_path, read_holder

__all__ = ["InstanceLock", "LockHolder", "lock_path", "lock_workspace", "read_holder"]


class InstanceLock(PidLock):
    """This process's claim on a workspace; ``release()`` removes the file if it is still ours."""

    def __init__(self, workspace: str | Path, program: str = "factsmith") -> None:
        super().__init__(workspace, program)
        self.workspace = self.target
        self.holder = LockHolder(self.holder.pid, self.holder.host, now(), program)  # the ledger's clock

    def acquire(self) -> InstanceLock:
        """Take the lock; WorkspaceInUseError when another live process holds it (ours: fine)."""
        try:
            super().acquire()
        except LockedError as exc:
            raise WorkspaceInUseError(f"workspace {self.workspace} is open in {exc.holder.describe()}",
                                      exc.holder) from None
        return self


def lock_workspace(workspace: str | Path, program: str = "factsmith") -> InstanceLock:
    """Claim ``workspace`` for this process (see ``InstanceLock``)."""
    return InstanceLock(workspace, program).acquire()
