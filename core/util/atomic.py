"""Files that appear whole or not at all: write to a temp file beside the target, then
swap it in with ``os.replace``; a failure (or a cancel) removes the temp file.

What appears gets the mode any new file or folder of the user gets (0666 or 0777 less the
umask), whatever the writer did to the temp (safetensors writes its files 0600): exports,
patches and model folders are for sharing. Secrets ask for ``private``.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PRIVATE_FILE = 0o600
log = logging.getLogger(__name__)


def _writable_place(path: Path) -> Path:
    """``path``, its folder made; a folder where the file should go, or a file where a folder
    should, said in words (review 46: "[Errno 21] Is a directory: '.p.zip.x1.tmp' -> …")."""
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder: name a file to write, not a folder")
    blocking = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise NotADirectoryError(f"{blocking} is a file, so {path} cannot be written inside it: choose another place")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def replacing(path: str | os.PathLike[str], durable: bool = False, private: bool = False) -> Iterator[Path]:
    """Yield a temp path beside ``path`` to write; on success it becomes ``path``.

    ``durable``: fsync the file before the swap and the folder after it, so the record
    survives a power cut (the edit log's files), not only a crash of this process.
    ``private``: the file is the user's alone (0600) from its creation on (a secret key);
    otherwise it gets the mode of any new file (``new_file_mode``), even where the writer
    replaced the temp with a file of its own mode.
    """
    path = _writable_place(Path(path))
    temp = _new_temp(path, PRIVATE_FILE if private else 0o666)
    try:
        yield temp
        if private:
            os.chmod(temp, PRIVATE_FILE)
        else:
            _best_effort_chmod(temp, new_file_mode(temp))
        if durable:
            _fsync(temp, os.O_RDONLY)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    if durable:
        _fsync(path.parent, os.O_RDONLY)  # the rename itself must survive


def _new_temp(path: Path, mode: int) -> Path:
    """An empty file beside ``path`` created with ``mode`` less the umask: mkstemp's 0600
    would make every export and patch unreadable to the people it is for."""
    for _ in range(100):
        temp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode))
        except FileExistsError:
            continue
        return temp
    raise FileExistsError(f"no free temporary name beside {path}")


def current_umask() -> int:
    """The process's umask, read now (it is process-wide, and the user may have changed it),
    without setting it: another thread may be creating files meanwhile.

    Linux shows it in /proc/self/status; elsewhere a probe file created with mode 0777 in the
    temp folder shows it in the mode it gets."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    probe = Path(tempfile.gettempdir()) / f".factsmith-umask-{secrets.token_hex(6)}"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o777))
        return 0o777 & ~stat.S_IMODE(os.stat(probe).st_mode)
    except OSError:
        return 0o022  # the usual default, where nothing can be probed
    finally:
        probe.unlink(missing_ok=True)


def _best_effort_chmod(path: Path, mode: int) -> None:
    """Some mounts (CIFS, FUSE) refuse chmod: the file is written all the same."""
    try:
        os.chmod(path, mode)
    except OSError as exc:
        log.debug("could not set mode %o on %s: %s", mode, path, exc)


def new_file_mode(path: str | os.PathLike[str] | None = None, umask: int | None = None) -> int:
    """The mode a new file (0666) or folder (0777) gets under the umask; an existing file at
    ``path`` with an execute bit counts as a program (0777)."""
    umask = current_umask() if umask is None else umask
    full = 0o666
    if path is not None:
        st = os.stat(path, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode) or st.st_mode & 0o111:
            full = 0o777
    return full & ~umask


def give_new_modes(root: str | os.PathLike[str]) -> None:
    """Give a folder just written (a staging folder, before its swap) and everything in it the
    modes new files and folders get under the umask, as if the user had made each one:
    ``tempfile.mkdtemp`` makes folders 0700, and libraries write files 0600 (safetensors).
    Links are left alone."""
    umask = current_umask()
    root = Path(root)
    for folder, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            entry = Path(folder) / name
            if not entry.is_symlink():
                _best_effort_chmod(entry, new_file_mode(entry, umask))
    _best_effort_chmod(root, new_file_mode(root, umask))


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
