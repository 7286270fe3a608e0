"""Files that appear whole or not at all: write to a temp file beside the target, then
swap it in with ``os.replace``; a failure (or a cancel) removes the temp file."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replacing(path: str | os.PathLike[str], durable: bool = False) -> Iterator[Path]:
    """Yield a temp path beside ``path`` to write; on success it becomes ``path``.

    ``durable``: fsync the file before the swap and the folder after it, so the record
    survives a power cut (the edit log's files), not only a crash of this process.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = _new_temp(path)
    try:
        yield temp
        if durable:
            _fsync(temp, os.O_RDONLY)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    if durable:
        _fsync(path.parent, os.O_RDONLY)  # the rename itself must survive


def _new_temp(path: Path) -> Path:
    """An empty file beside ``path`` with the mode any new file gets (0666 less the umask):
    mkstemp's 0600 would make every export and patch unreadable to the people it is for.
    Secrets (the author key) set their own mode."""
    for _ in range(100):
        temp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return temp
    raise FileExistsError(f"no free temporary name beside {path}")


def _fsync(path: Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes, read in chunks (an editor checkpoint may be gigabytes)."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
