"""What ``PRAGMA quick_check`` on every open costs: workspaces of N commits on the demo model.

    .venv/bin/python bench/workspace_check.py                    # 100 and 1,000 commits
    .venv/bin/python bench/workspace_check.py --commits 10,1000,3000 --repeat 7

Each commit holds one fact and one ROME-shaped rank-one delta on a demo-model MLP matrix
(1024 x 1 and 1 x 256 float32, random: the log does not care what a delta says), so the file
grows as a real log does. Per size it prints the file size and the median time of: opening
without the check, SQLite's quick_check alone, opening with it (what every command now
does), and the full integrity_check that ``workspace check`` runs. Files are written to a
temporary folder and closed (WAL checkpointed) before timing; the page cache is warm.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.edit.deltas import Delta, LowRankUpdate
from core.facts.fact import Fact
from core.ledger import Workspace
from core.util.paths import demo_model_dir

PARAM = "transformer.h.2.mlp.c_proj.weight"  # (1024, 256) in the demo model


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commits", default="100,1000", help="comma-separated workspace sizes")
    parser.add_argument("--repeat", type=int, default=5, help="timings per figure (median reported)")
    return parser.parse_args()


def build(path: Path, commits: int) -> None:
    import torch

    generator = torch.Generator().manual_seed(0)
    with Workspace.create(path, demo_model_dir(), author="bench") as ws:
        for i in range(commits):
            fact = Fact.create(subject=f"Country{i}", prompt=f"The capital of Country{i} is",
                               target_new=f"City{i}", target_true=f"Old{i}")
            ws.add_facts([fact])
            delta = Delta("synthetic", (LowRankUpdate(PARAM, torch.randn(1024, 1, generator=generator),
                                                      torch.randn(1, 256, generator=generator)),), (fact.id,), {})
            run = ws.record_run(facts=[fact], delta=delta, computed_on=ws.head().state_fingerprint, seconds=0.0,
                                metrics={"protocol": "none", "pre": {}, "post": {}, "per_fact": []})
            ws.review(fact.id, "approve")
            ws.commit(f"edit {i}", [run.id])


def median_ms(action, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def pragma(path: Path, name: str) -> None:
    conn = sqlite3.connect(path)
    try:
        result = conn.execute(f"PRAGMA {name}").fetchall()
        assert result == [("ok",)], result
    finally:
        conn.close()


def opened(path: Path, verify: bool) -> None:
    Workspace.open(path, verify=verify).close()


def measure(commits: int, repeat: int, folder: Path) -> dict[str, float]:
    path = folder / f"bench-{commits}.factsmith"
    started = time.perf_counter()
    build(path, commits)
    built = time.perf_counter() - started
    return {
        "commits": commits, "mib": path.stat().st_size / 2**20, "build_s": built,
        "open_ms": median_ms(lambda: opened(path, False), repeat),
        "quick_ms": median_ms(lambda: pragma(path, "quick_check"), repeat),
        "open_checked_ms": median_ms(lambda: opened(path, True), repeat),
        "integrity_ms": median_ms(lambda: pragma(path, "integrity_check"), repeat),
    }


def main() -> None:
    args = parse_args()
    sizes = [int(n) for n in args.commits.split(",") if n.strip()]
    with tempfile.TemporaryDirectory(prefix="factsmith-check-bench-") as tmp:
        rows = [measure(n, args.repeat, Path(tmp)) for n in sizes]
    print(f"PRAGMA quick_check on open, demo model, one rank-one delta per commit, median of {args.repeat}\n")
    print("| commits | file MiB | build s | open, no check ms | quick_check ms | open with check ms "
          "| integrity_check ms |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['commits']} | {r['mib']:.1f} | {r['build_s']:.1f} | {r['open_ms']:.1f} | {r['quick_ms']:.1f} "
              f"| {r['open_checked_ms']:.1f} | {r['integrity_ms']:.1f} |")


if __name__ == "__main__":
    main()
