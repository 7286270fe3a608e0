"""`workspace check` reads every stored delta back (review 46: a flipped byte in a delta, or a
lost delta file, passed the check, and then every checkout of HEAD failed)."""

import dataclasses
import shutil
import sqlite3

from tests.core.ledger.helpers import add_run_approve, make_facts


def _flip_a_byte(path, sha: str) -> None:
    """Bit rot the append-only triggers cannot stop (they guard the app, not the disk)."""
    con = sqlite3.connect(path)
    data = bytearray(con.execute("SELECT data FROM deltas WHERE sha256 = ?", (sha,)).fetchone()[0])
    data[-3] ^= 0xFF
    for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'deltas'"):
        con.execute(f"DROP TRIGGER {name}")
    con.execute("UPDATE deltas SET data = ? WHERE sha256 = ?", (bytes(data), sha))
    con.commit()
    con.close()


def test_a_corrupt_delta_is_named_with_its_run(workspace):
    runs = add_run_approve(workspace, make_facts(2))
    workspace.commit("two edits")
    sha = workspace.run(runs[0].id).delta_sha256
    assert workspace.check() == []
    _flip_a_byte(workspace.path, sha)
    [problem] = workspace.check()
    assert f"delta {sha[:12]}" in problem and "is corrupt" in problem and problem.endswith(f"(run {runs[0].id})")


def test_a_lost_delta_file_is_named(workspace):
    workspace._store = dataclasses.replace(workspace._store, inline_limit=100)  # as a large fine-tuning delta
    [run] = add_run_approve(workspace, make_facts(1))
    workspace.commit("one edit")
    shutil.rmtree(f"{workspace.path}.deltas")
    [problem] = workspace.check()
    assert "is missing: expected the file" in problem and problem.endswith(f"(run {run.id})")
