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

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from core.ledger.db import now
from core.ledger.errors import WorkspaceInUseError


@dataclass(frozen=True)
class LockHolder:
    pid: int
    host: str
    since: str
    program: str

    def describe(self) -> str:
        return f"{self.program} (process {self.pid} on {self.host}, since {self.since[:19].replace('T', ' ')} UTC)"


def lock_path(workspace: str | Path) -> Path:
    path = Path(workspace)
    return path.with_name(f"{path.name}.lock")


def _alive(holder: LockHolder) -> bool:
    """Whether the holder still runs; another host's process cannot be checked, so it counts as alive."""
    if holder.host != socket.gethostname():
        return True
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True


def read_holder(workspace: str | Path) -> LockHolder | None:
    """Who holds the workspace's lock, if anyone still does (a stale or unreadable lock: None)."""
    try:
        holder = LockHolder(**json.loads(lock_path(workspace).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
    return holder if _alive(holder) else None


class InstanceLock:
    """This process's claim on a workspace; ``release()`` removes the file if it is still ours."""

    def __init__(self, workspace: str | Path, program: str = "factsmith") -> None:
        self.workspace, self.path = Path(workspace), lock_path(workspace)
        self.holder = LockHolder(os.getpid(), socket.gethostname(), now(), program)

    def acquire(self) -> InstanceLock:
        """Take the lock; WorkspaceInUseError when another live process holds it (ours: fine)."""
        other = read_holder(self.workspace)
        if other is not None and (other.pid, other.host) != (self.holder.pid, self.holder.host):
            raise WorkspaceInUseError(f"workspace {self.workspace} is open in {other.describe()}", other)
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.holder.__dict__), encoding="utf-8")
        os.replace(tmp, self.path)  # whole or not at all: a reader never sees half a lock
        return self

    def release(self) -> None:
        current = read_holder(self.workspace)
        if current is not None and (current.pid, current.host) == (self.holder.pid, self.holder.host):
            self.path.unlink(missing_ok=True)


def lock_workspace(workspace: str | Path, program: str = "factsmith") -> InstanceLock:
    """Claim ``workspace`` for this process (see ``InstanceLock``)."""
    return InstanceLock(workspace, program).acquire()
