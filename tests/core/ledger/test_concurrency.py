"""Two processes on one workspace: writes wait their turn, or fail with a clear message."""

import pytest

from core.ledger import Workspace, WorkspaceBusyError
from tests.core.ledger.helpers import make_fact
from tests.core.ledger.test_kill import assert_intact, read_until, start


def test_two_writers_take_turns(workspace):
    path = workspace.path
    first, second = start("review-loop", path, "0", "25"), start("review-loop", path, "500", "25")
    for proc in (first, second):
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
        assert "DONE" in out
    ws = assert_intact(path)
    records = ws.queue()
    assert len(records) == 50 and {r.status for r in records} == {"approved"}
    assert {h.author for h in ws.history()} == {"worker-0", "worker-500"}


def test_a_writer_gives_up_with_a_clear_error(workspace):
    path = workspace.path
    holder = start("hold-lock", path, "3")
    read_until(holder, "LOCKED", 1)
    try:
        with Workspace.open(path, busy_seconds=0.5) as impatient:
            assert impatient.queue() == []  # reading still works while another process writes
            with pytest.raises(WorkspaceBusyError, match=rf"workspace {path} is busy.*more than 0.5 s"):
                impatient.add_facts([make_fact(1)])
        with Workspace.open(path, busy_seconds=30) as patient:
            patient.add_facts([make_fact(1)])  # waits for the holder, then succeeds
            assert len(patient.queue()) == 1
    finally:
        holder.kill()
        holder.communicate()
