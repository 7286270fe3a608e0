"""Subprocesses for the kill and concurrency tests: ``python -m tests.core.ledger.worker MODE WORKSPACE ...``.

commit-loop / import-loop write forever, printing COMMITTED/IMPORTED after each transaction; with
a pause, they also print *-PENDING and sleep *inside* the transaction, so a kill lands there.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from pathlib import Path

from tests.core.ledger.helpers import add_run_approve, make_facts


def _pause_inside(module, name: str, label: str, pause: float) -> None:
    original = getattr(module, name)

    def paused(*args, **kwargs):
        result = original(*args, **kwargs)
        if pause:
            print(label, flush=True)
            time.sleep(pause)
        return result

    setattr(module, name, paused)


def commit_loop(path: str, pause: float) -> None:
    from core.ledger import Workspace, commits

    _pause_inside(commits, "insert_commit", "COMMIT-PENDING", pause)
    ws = Workspace.open(path, author="worker", busy_seconds=30)
    for i in range(10_000):
        add_run_approve(ws, make_facts(20, start=1000 + 20 * i))
        commit = ws.commit(f"batch {i}")
        print("COMMITTED", commit.id, flush=True)


def import_loop(path: str, pause: float) -> None:
    from core.ledger import Workspace, queue

    _pause_inside(queue, "_insert", "IMPORT-PENDING", pause)
    ws = Workspace.open(path, author="worker", busy_seconds=30)
    source = Path(path).with_name("batch.jsonl")
    for i in range(10_000):
        rows = [f.to_dict() for f in make_facts(200, start=100_000 + 200 * i)]
        source.write_text("".join(json.dumps(r) + "\n" for r in rows))
        report = ws.import_file(source)
        print("IMPORTED", report.import_id, flush=True)


def review_loop(path: str, start: int, count: int) -> None:
    from core.ledger import Workspace

    ws = Workspace.open(path, author=f"worker-{start}", busy_seconds=30)
    for fact in make_facts(count, start=start):
        ws.add_facts([fact])
        ws.review(fact.id, "approve")
    print("DONE", flush=True)


def hold_lock(path: str, seconds: float) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    print("LOCKED", flush=True)
    time.sleep(seconds)
    conn.execute("COMMIT")


if __name__ == "__main__":
    mode, workspace, *rest = sys.argv[1:]
    if mode == "commit-loop":
        commit_loop(workspace, float(rest[0]))
    elif mode == "import-loop":
        import_loop(workspace, float(rest[0]))
    elif mode == "review-loop":
        review_loop(workspace, int(rest[0]), int(rest[1]))
    elif mode == "hold-lock":
        hold_lock(workspace, float(rest[0]))
    else:
        raise SystemExit(f"unknown mode {mode}")
