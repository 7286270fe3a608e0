"""Killing a process mid-commit or mid-import leaves the workspace readable and complete."""

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.ledger import Workspace

ROOT = Path(__file__).resolve().parents[3]


def start(mode: str, path: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "tests.core.ledger.worker", mode, str(path), *args], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def read_until(proc: subprocess.Popen, wanted: str, count: int, timeout: float = 240) -> list[str]:
    """Lines printed until the ``count``-th one starting with ``wanted``."""
    lines, deadline = [], time.monotonic() + timeout
    while sum(line.startswith(wanted) for line in lines) < count:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"worker ended early: {proc.stderr.read()[-2000:]}")
        lines.append(line.strip())
        assert time.monotonic() < deadline, "worker too slow"
    return lines


def kill(proc: subprocess.Popen) -> list[str]:
    proc.send_signal(signal.SIGKILL)
    rest, _ = proc.communicate(timeout=60)
    return rest.splitlines()


def assert_intact(path: Path) -> Workspace:
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    conn.close()
    ws = Workspace.open(path)
    assert ws.check() == []  # every commit has all its runs; every import all its facts
    return ws


def committed_ids(lines: list[str]) -> list[str]:
    return [line.split()[1] for line in lines if line.startswith("COMMITTED")]


def test_kill_inside_a_commit_transaction(workspace):
    path = workspace.path
    proc = start("commit-loop", path, "2")
    lines = read_until(proc, "COMMIT-PENDING", 3)  # the third commit is written but not yet committed
    lines += kill(proc)
    ws = assert_intact(path)
    visible = [c.id for c in ws.log()][:-1]
    assert visible[::-1] == committed_ids(lines) and len(visible) == 2  # the killed one left no trace
    assert all(len(c.applied) == 20 for c in ws.log()[:-1])
    ws.commit("after the crash")  # the runs of the lost commit are still there, approved, committable
    assert len(ws.head().applied) == 20


@pytest.mark.parametrize("seed", [1, 2])
def test_kill_at_a_random_moment_while_committing(workspace, seed):
    path = workspace.path
    proc = start("commit-loop", path, "0")
    lines = read_until(proc, "COMMITTED", 1)
    time.sleep(random.Random(seed).uniform(0.1, 1.5))
    lines += kill(proc)
    ws = assert_intact(path)
    visible = {c.id for c in ws.log()}
    assert set(committed_ids(lines)) <= visible  # no committed edit lost


def test_kill_inside_an_import_transaction(workspace):
    path = workspace.path
    proc = start("import-loop", path, "2")
    lines = read_until(proc, "IMPORT-PENDING", 2)
    lines += kill(proc)
    ws = assert_intact(path)
    assert len(ws.queue()) == 200 == sum(line.startswith("IMPORTED") for line in lines) * 200


def test_kill_at_a_random_moment_while_importing(workspace):
    path = workspace.path
    proc = start("import-loop", path, "0")
    lines = read_until(proc, "IMPORTED", 1)
    time.sleep(random.Random(3).uniform(0.1, 1.0))
    lines += kill(proc)
    ws = assert_intact(path)
    imported = sum(line.startswith("IMPORTED") for line in lines)
    assert len(ws.queue()) % 200 == 0 and len(ws.queue()) >= imported * 200
