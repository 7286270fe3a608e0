"""An advisory lock file beside a path (``<name>.lock``) naming the process that works on it:
a workspace a window has open, a checkpoint a training run is writing. A lock whose process
is gone (a crash) is stale and taken over; another host's process cannot be checked, so its
lock counts as held. A free lock is created atomically (a hard link of a complete file, which
fails when the lock exists), so of two processes starting together one is refused; only two
processes taking over the same stale lock in the same instant could both succeed."""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class LockHolder:
    pid: int
    host: str
    since: str
    program: str

    def describe(self) -> str:
        return f"{self.program} (process {self.pid} on {self.host}, since {self.since[:19].replace('T', ' ')} UTC)"

    def is_this_process(self) -> bool:
        return (self.pid, self.host) == (os.getpid(), socket.gethostname())


class LockedError(RuntimeError):
    """Another live process holds the lock."""

    def __init__(self, target: Path, holder: LockHolder) -> None:
        super().__init__(f"{target} is in use by {holder.describe()}")
        self.target, self.holder = target, holder


def lock_path(target: str | Path) -> Path:
    path = Path(target)
    return path.with_name(f"{path.name}.lock")


def process_alive(pid: int, host: str | None = None) -> bool:
    """Whether the process runs; one on another host counts as alive (it cannot be checked)."""
    if host is not None and host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True


def read_holder(target: str | Path) -> LockHolder | None:
    """Who holds the lock on ``target``, if anyone still does (a stale or unreadable lock: None)."""
    try:
        holder = LockHolder(**json.loads(lock_path(target).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
    return holder if process_alive(holder.pid, holder.host) else None


def _create_exclusively(source: Path, path: Path) -> bool:
    """Link ``source`` as ``path`` unless ``path`` exists (False then); where the file system
    has no hard links, a plain existence check stands in."""
    try:
        os.link(source, path)
    except FileExistsError:
        return False
    except OSError:
        if path.exists():
            return False
        os.replace(source, path)
    return True


class PidLock:
    """This process's claim on ``target``; ``release()`` removes the file if it is still ours."""

    def __init__(self, target: str | Path, program: str = "factsmith") -> None:
        self.target, self.path = Path(target), lock_path(target)
        self.holder = LockHolder(os.getpid(), socket.gethostname(), datetime.now(UTC).isoformat(), program)

    def acquire(self) -> PidLock:
        """Take the lock; LockedError when another live process holds it (ours: fine)."""
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.holder.__dict__), encoding="utf-8")  # whole before it is seen
        try:
            if not _create_exclusively(tmp, self.path):
                self._refuse_live_other()
                os.replace(tmp, self.path)  # stale, or ours already: take it over
            self._refuse_live_other()  # a taker-over of the same stale lock that wrote after us
        finally:
            tmp.unlink(missing_ok=True)
        return self

    def _refuse_live_other(self) -> None:
        other = read_holder(self.target)
        if other is not None and (other.pid, other.host) != (self.holder.pid, self.holder.host):
            raise LockedError(self.target, other)

    def release(self) -> None:
        current = read_holder(self.target)
        if current is not None and (current.pid, current.host) == (self.holder.pid, self.holder.host):
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> PidLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
