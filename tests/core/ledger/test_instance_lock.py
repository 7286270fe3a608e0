"""The workspace's instance lock: a second live process is refused, a dead one's lock taken over."""

import json
import os
import socket
import subprocess
import sys

import pytest

from core import WorkspaceInUseError, lock_workspace, read_holder
from core.ledger.instance_lock import lock_path


def _foreign_lock(workspace, pid):
    lock_path(workspace).write_text(json.dumps({"pid": pid, "host": socket.gethostname(), "since": "2026-01-01T00:00",
                                                "program": "factsmith gui"}), encoding="utf-8")


def test_a_live_process_holds_the_workspace_and_a_dead_ones_lock_is_stale(tmp_path):
    workspace = tmp_path / "w.factsmith"
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        _foreign_lock(workspace, other.pid)
        assert read_holder(workspace).pid == other.pid
        with pytest.raises(WorkspaceInUseError, match=rf"open in factsmith gui \(process {other.pid}"):
            lock_workspace(workspace)
    finally:
        other.kill()
        other.wait()
    assert read_holder(workspace) is None, "its process is gone: the lock is stale"
    mine = lock_workspace(workspace)
    assert read_holder(workspace).pid == os.getpid()
    assert lock_workspace(workspace).holder.pid == os.getpid(), "this process may claim it again"
    mine.release()
    assert not lock_path(workspace).exists()


def test_the_cli_refuses_to_write_a_workspace_a_window_has_open_and_still_reads_it(tmp_path, capsys):
    from core.cli.main import main
    from core.ledger import Workspace
    from core.util.paths import demo_edits_file, demo_model_dir

    workspace = tmp_path / "w.factsmith"
    assert main(["workspace", "init", str(workspace), "--model", str(demo_model_dir())]) == 0
    window = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _foreign_lock(workspace, window.pid)
        capsys.readouterr()
        assert main(["import", str(demo_edits_file()), "--workspace", str(workspace)]) == 2
        error = capsys.readouterr().err
        assert f"open in factsmith gui (process {window.pid}" in error and "--ignore-lock" in error
        assert main(["queue", "--workspace", str(workspace)]) == 0, "reading is fine"
        out = tmp_path / "root-model"  # trial 46: a checkout only records the weights it built
        assert main(["checkout", "HEAD", "--workspace", str(workspace), "--out", str(out), "--device", "cpu"]) == 0
        assert (out / "config.json").is_file()
        with Workspace.open(workspace, read_only=True) as ws:
            assert ws.queue() == [], "nothing was imported"
        assert main(["import", str(demo_edits_file()), "--workspace", str(workspace), "--ignore-lock"]) == 0
    finally:
        window.kill()
        window.wait()
    assert main(["import", str(demo_edits_file()), "--workspace", str(workspace), "--allow-conflicts"]) == 0, \
        "the window is gone: its lock is stale"
