"""A workspace held open in this process (the window's) stays shared with other processes
(the CLI's) after this process opens the same file again: opening never touches the file
outside SQLite, whose POSIX locks a plain open and close would drop (core.ledger.opening)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from core.ledger import Workspace
from tests.core.ledger.helpers import make_fact

COUNT_FACTS = ("import sys; from core.ledger import Workspace\n"
               "with Workspace.open(sys.argv[1], read_only=True) as ws: print(len(ws.queue()))")


def _facts_another_process_sees(path: Path) -> int:
    done = subprocess.run([sys.executable, "-c", COUNT_FACTS, str(path)], capture_output=True, text=True,
                          timeout=120, cwd=Path(__file__).resolve().parents[3])
    assert done.returncode == 0, done.stderr[-2000:]
    return int(done.stdout.strip())


def test_reading_from_another_process_keeps_the_open_connections_log(workspace):
    path = workspace.path
    workspace.add_facts([make_fact(1)])
    with Workspace.open(path, read_only=True) as again:  # what the window does for a side check
        assert len(again.queue()) == 1
    assert _facts_another_process_sees(path) == 1  # its connection closes: it must not be the last
    assert path.with_name(f"{path.name}-wal").exists(), "the log was deleted under the open connection"
    workspace.add_facts([make_fact(2)])
    assert _facts_another_process_sees(path) == 2, "a commit of the open connection is invisible elsewhere"


def test_a_file_that_is_not_sqlite_is_still_refused_by_what_sqlite_finds(tmp_path):
    from core.ledger import SchemaError

    text = tmp_path / "notes.factsmith"
    text.write_text("these are my notes, not a workspace\n" * 20, encoding="utf-8")
    for read_only in (False, True):
        try:
            Workspace.open(text, read_only=read_only)
        except SchemaError as exc:
            assert "not an SQLite database" in str(exc)
        else:
            raise AssertionError("a text file was opened as a workspace")
    assert text.read_text(encoding="utf-8") == "these are my notes, not a workspace\n" * 20
    assert not text.with_name(f"{text.name}-wal").exists()


def test_a_damaged_header_is_called_damaged_not_foreign(workspace):
    """SQLite's "not a database" for a file that starts as SQLite's (here an impossible page
    size) means a damaged workspace, with the way to recover what is readable."""
    from core.ledger.errors import DamagedWorkspaceError

    path = workspace.path
    workspace.close()
    for suffix in ("-wal", "-shm"):
        assert not path.with_name(f"{path.name}{suffix}").exists(), "closed cleanly: one file holds it all"
    data = bytearray(path.read_bytes())
    data[16:18] = (3).to_bytes(2, "big")  # the page size: not a power of two
    path.write_bytes(bytes(data))
    try:
        Workspace.open(path, read_only=True)
    except DamagedWorkspaceError as exc:
        assert "damaged" in str(exc) and "workspace recover" in str(exc)
    else:
        raise AssertionError("a damaged header opened")
