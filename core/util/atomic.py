"""Files that appear whole or not at all: write to a temp file beside the target, then
swap it in with ``os.replace``; a failure (or a cancel) removes the temp file."""

from __future__ import annotations

import os
import tempfile
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
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    temp = Path(name)
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


def _fsync(path: Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
