"""SIGKILL trials against the real `factsmith` CLI (``python -m core.cli.main``), shared by
tests/core/ledger/test_crash_kill.py (CI) and bench/crash_trials.py (200 trials).

A trial prepares one operation on a workspace over the tiny GPT-2 (import of 300 facts,
review, commit, revert, checkout --out), starts the CLI process, kills it with SIGKILL after
a seeded random delay (the first trial of each operation runs to the end and times it; the
delays then fall between 40 % and 100 % of the quickest complete run so far, so most land
inside the command: Python start-up, model loading, the transaction, the folder rename), and
checks what is left: the workspace passes quick_check and ``workspace check``, the commits
before the trial are all still there in order, and the operation happened entirely or not
at all (an import added all 300 facts or none, a commit all its runs, a checkout folder is
complete or absent). Any violation raises AssertionError naming the trial.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from core.ledger import Workspace
from tests.core.ledger.helpers import add_run_approve, make_facts

ROOT = Path(__file__).resolve().parents[3]
OPS = ("import", "review", "commit", "revert", "checkout")
IMPORT_ROWS = 300


@dataclass(frozen=True)
class Trial:
    op: str
    index: int
    delay: float | None  # None: not killed (the timing run)
    killed: bool  # the process was still running when the signal was sent
    applied: bool  # the operation's effect is in the workspace (or the folder exists)
    seconds: float


def snapshot(path: Path) -> dict:
    with Workspace.open(path, read_only=True) as ws:
        return {"commits": [c.id for c in reversed(ws.log())], "facts": {f.id: f.status for f in ws.queue()},
                "history": len(ws.history())}


class Lab:
    """One workspace and folder in which trials of every operation run one after another."""

    def __init__(self, folder: Path, model_dir: Path, seed: int = 0) -> None:
        self.folder, self.rng, self.timing = folder, random.Random(seed), {}
        self.path = folder / "crash.factsmith"
        self.next_fact = 10_000
        with Workspace.create(self.path, model_dir, author="crash") as ws:
            add_run_approve(ws, self._facts(4))
            ws.commit("seed")

    def _facts(self, n: int):
        facts = make_facts(n, start=self.next_fact)
        self.next_fact += n
        return facts

    # -- preparing ----------------------------------------------------------------------

    def prepare(self, op: str, index: int) -> tuple[list[str], object]:
        """(CLI arguments, what the operation is about) for one trial."""
        if op == "import":
            facts = self._facts(IMPORT_ROWS)
            file = self.folder / f"import-{index}.jsonl"
            file.write_text("".join(json.dumps(f.to_dict()) + "\n" for f in facts), encoding="utf-8")
            return ["import", str(file)], {f.id for f in facts}
        with Workspace.open(self.path, author="crash") as ws:
            if op == "review":
                fact = self._facts(1)[0]
                ws.add_facts([fact])
                return ["review", fact.id, "--approve"], fact.id
            if op == "commit":
                runs = add_run_approve(ws, self._facts(3), seed=index)
                return ["commit", "-m", f"trial {index}"], {r.id for r in runs}
            if op == "revert":
                fact = self._facts(1)[0]
                add_run_approve(ws, [fact], seed=index)
                ws.commit(f"to revert in trial {index}")
                return ["revert", fact.id, "-m", f"revert in trial {index}", "--device", "cpu"], fact.id
        out = self.folder / f"co-{index}"
        return ["checkout", "HEAD", "--out", str(out), "--device", "cpu"], out

    # -- running ------------------------------------------------------------------------

    def _delay(self, op: str) -> float | None:
        if op not in self.timing:
            return None
        return self.rng.uniform(0.4, 1.0) * self.timing[op]

    def run(self, op: str, index: int) -> Trial:
        argv, subject = self.prepare(op, index)
        before = snapshot(self.path)
        delay = self._delay(op)
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
        started = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "core.cli.main", *argv, "--workspace", str(self.path),
                                 "--author", "crash"], cwd=self.folder, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            proc.wait(timeout=delay if delay is not None else 300)
        except subprocess.TimeoutExpired:
            if delay is None:
                raise
            proc.send_signal(signal.SIGKILL)  # harmless if it exited a moment ago: then it counts as finished
        _, err = proc.communicate(timeout=60)
        killed = proc.returncode == -signal.SIGKILL
        seconds = time.monotonic() - started
        where = f"{op} trial {index} (delay {delay})"
        assert "Traceback" not in err, f"{where}: {err[-2000:]}"
        assert proc.returncode == (-signal.SIGKILL if killed else 0), f"{where}: exit {proc.returncode}: {err[-2000:]}"
        if not killed:  # the quickest complete run so far: a cold first run would push later kills past the end
            self.timing[op] = min(seconds, self.timing.get(op, seconds))
        applied = self.verify(op, subject, before, where)
        assert killed or applied, f"{where}: finished but its effect is missing"
        return Trial(op, index, delay, killed, applied, seconds)

    # -- checking -----------------------------------------------------------------------

    def verify(self, op: str, subject, before: dict, where: str) -> bool:
        with Workspace.open(self.path) as ws:  # quick_check on open
            problems = ws.check()
        assert problems == [], f"{where}: workspace check: {problems}"
        after = snapshot(self.path)
        assert after["commits"][: len(before["commits"])] == before["commits"], f"{where}: commits lost or rewritten"
        new_commits = len(after["commits"]) - len(before["commits"])
        assert new_commits in (0, 1), f"{where}: {new_commits} new commits"
        check = getattr(self, f"_verify_{op}")
        return check(subject, before, after, new_commits, where)

    def _verify_import(self, ids: set, before: dict, after: dict, new_commits: int, where: str) -> bool:
        added = set(after["facts"]) - set(before["facts"])
        assert added in (set(), ids), f"{where}: half an import ({len(added)} of {len(ids)} facts)"
        return bool(added)

    def _verify_review(self, fact_id: str, before: dict, after: dict, new_commits: int, where: str) -> bool:
        grew = after["history"] - before["history"]
        assert grew in (0, 1), f"{where}: {grew} history rows"
        assert after["facts"][fact_id] == ("approved" if grew else "pending"), f"{where}: status and history disagree"
        return bool(grew)

    def _verify_commit(self, run_ids: set, before: dict, after: dict, new_commits: int, where: str) -> bool:
        if new_commits:
            with Workspace.open(self.path, read_only=True) as ws:
                assert set(ws.head().applied) == run_ids, f"{where}: a commit with some of its runs"
        return bool(new_commits)

    def _verify_revert(self, fact_id: str, before: dict, after: dict, new_commits: int, where: str) -> bool:
        if new_commits:
            with Workspace.open(self.path, read_only=True) as ws:
                head = ws.head()
                assert head.kind == "revert" and len(head.dropped) == 1, f"{where}: a revert commit half made"
        return bool(new_commits)

    def _verify_checkout(self, out: Path, before: dict, after: dict, new_commits: int, where: str) -> bool:
        from core.model.folder_checks import read_header

        assert new_commits == 0, f"{where}: a checkout made a commit"
        if not out.exists():
            return False
        names = {p.name for p in out.iterdir()}
        assert {"config.json", "model.safetensors", "factsmith.json"} <= names, f"{where}: half a folder: {names}"
        read_header(out / "model.safetensors")  # the ModelLoadError of a truncated file fails the trial
        json.loads((out / "config.json").read_text(encoding="utf-8"))
        return True

    def stale_staging(self) -> list[Path]:
        """Hidden staging folders in the lab folder (a killed checkout leaves one until the next)."""
        return sorted(p for p in self.folder.glob(".co-*") if p.is_dir())


def run_trials(folder: Path, model_dir: Path, per_op: int, seed: int = 0, ops=OPS) -> list[Trial]:
    """``per_op`` trials of each operation, interleaved, then one clean checkout that must
    remove every staging folder the killed checkouts left."""
    lab = Lab(folder, model_dir, seed)
    trials = []
    for index in range(per_op):
        for op in ops:
            trials.append(lab.run(op, index))
    if "checkout" in ops:
        lab.timing.pop("checkout", None)  # no timing: this one runs to the end
        trials.append(lab.run("checkout", per_op))
        assert lab.stale_staging() == [], f"staging folders left behind: {lab.stale_staging()}"
    return trials


def outcome(trial: Trial) -> str:
    if not trial.killed:
        return "finished"
    return "killed, applied whole" if trial.applied else "killed, nothing applied"


def table(trials: list[Trial]) -> str:
    counts = Counter((t.op, outcome(t)) for t in trials)
    kinds = ("finished", "killed, nothing applied", "killed, applied whole")
    lines = ["| operation | trials | " + " | ".join(kinds) + " | violations |", "|---|---:|" + "---:|" * 4]
    for op in OPS:
        n = sum(1 for t in trials if t.op == op)
        if n:
            lines.append(f"| {op} | {n} | " + " | ".join(str(counts[(op, k)]) for k in kinds) + " | 0 |")
    return "\n".join(lines) + "\n"
