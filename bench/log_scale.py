"""How the edit log scales: N committed edits on the demo model (default 1,000 ROME edits).

Reports workspace bytes per edit, the time to check out HEAD (load the base, replay every
delta in order, fingerprint the weights) and the time to revert one edit from the middle
(a rebuild from the base with the other N-1 deltas, verified and committed).

    .venv/bin/python bench/log_scale.py                      # 1,000 ROME edits, 1 per commit
    .venv/bin/python bench/log_scale.py --edits 200 --per-commit 10
    .venv/bin/python bench/log_scale.py --method synthetic   # ROME-shaped random rank-one deltas
    .venv/bin/python bench/log_scale.py --method synthetic --random-124m --edits 1000

``--random-124m`` builds GPT-2 small's shape (124M parameters) with random weights in the
bench's folder. The plain load time (``load_model``) is reported beside the checkouts:
a checkout is a load, the replay and one fingerprint of the weights.

Edits are computed one after another on HEAD, as ``factsmith run`` does. ``synthetic``
skips the optimisation (the log does not care what a delta says): use it to measure the
log alone, and say so when quoting its figures.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _models import random_gpt2_124m
from _results import record

from core.edit.deltas import Delta, LowRankUpdate, apply_delta
from core.facts.fact import Fact, FactError, fact_from_dict
from core.ledger import Workspace
from core.model.loading import LoadOptions
from core.util.paths import demo_model_dir
from core.util.timing import recording


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=1000)
    parser.add_argument("--per-commit", type=int, default=1, help="edits per commit")
    parser.add_argument("--method", default="rome", help="an editing method, or 'synthetic'")
    parser.add_argument("--model", type=Path, default=None, help="default: the demo model")
    parser.add_argument("--random-124m", action="store_true", help="a random GPT-2 124M, built here")
    parser.add_argument("--repeat", type=int, default=1, help="check out HEAD this many times; the best counts")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--keep", type=Path, help="keep the workspace in this folder")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def bench_facts(model_dir: Path, count: int, seed: int) -> list[Fact]:
    """Counterfactual requests about distinct facts the demo model was trained on."""
    from core.demo_build.edit_sets import edit_request
    from core.demo_build.knowledge import KnowledgeFact

    if not (model_dir / "facts.jsonl").is_file():  # another model: made-up requests will do for the log
        return [Fact.create(subject=f"Place{i}", prompt=f"Place{i} is in", target_new=f"Land{i}") for i in range(count)]
    records = [json.loads(line) for line in (model_dir / "facts.jsonl").read_text().splitlines() if line.strip()]
    known = [KnowledgeFact.from_record(r) for r in records]
    rng = random.Random(seed)
    facts: dict[str, Fact] = {}
    for fact in rng.sample(known, len(known)):
        objects = sorted({k.object for k in known if k.relation == fact.relation})
        try:
            made = fact_from_dict(edit_request(fact, known, objects, rng))
        except (FactError, ValueError):
            continue
        facts.setdefault(f"{made.subject}\0{made.prompt}", made)
        if len(facts) == count:
            return list(facts.values())
    raise SystemExit(f"{model_dir}/facts.jsonl yields only {len(facts)} distinct requests; ask for fewer --edits")


def synthetic_edit(lm, fact: Fact):
    """A ROME-shaped rank-one delta at ROME's layer, random: an EditOutcome look-alike."""
    import torch

    facts = [fact]
    param = lm.spec.mlp_out_weight(max(0, min(lm.info.layers - 1, round(lm.info.layers / 6))))
    rows, cols = dict(lm.model.named_parameters())[param].shape
    generator = torch.Generator().manual_seed(int(facts[0].id[:8], 16))
    update = LowRankUpdate(param, torch.randn(rows, 1, generator=generator) * 1e-3,
                           torch.randn(1, cols, generator=generator))
    delta = Delta("synthetic", (update,), tuple(f.id for f in facts), {"layer": param})
    metrics = {"protocol": "none (synthetic)", "pre": {}, "post": {}, "per_fact": []}
    return types.SimpleNamespace(facts=tuple(facts), method="synthetic", hparams=dict(delta.hparams), delta=delta,
                                 metrics=metrics, previews={}, seconds=0.0, environment={"seed": 0})


def compute(lm, fact: Fact, method: str):
    if method == "synthetic":
        return synthetic_edit(lm, fact)
    from core.workflows.editing import compute_edit

    return compute_edit(lm, [fact], method)


def build_log(ws: Workspace, lm, facts: list[Fact], method: str, per_commit: int) -> dict[str, float]:
    """Run, approve and commit every fact; ``lm`` follows HEAD (each edit is computed on it)."""
    timings = {"compute": 0.0, "record": 0.0, "commit": 0.0}
    ws.add_facts(facts)
    for start in range(0, len(facts), per_commit):
        head, outcomes = ws.head().state_fingerprint, []
        for fact in facts[start:start + per_commit]:
            began = time.perf_counter()
            outcomes.append(compute(lm, fact, method))
            timings["compute"] += time.perf_counter() - began
            began = time.perf_counter()
            ws.record_outcome(outcomes[-1], head)
            ws.review(fact.id, "approve")
            timings["record"] += time.perf_counter() - began
        began = time.perf_counter()
        ws.commit(f"edits {start + 1}-{start + len(outcomes)}")
        timings["commit"] += time.perf_counter() - began
        for outcome in outcomes:
            apply_delta(lm.model, outcome.delta)
        if (start + len(outcomes)) % 100 < per_commit:
            print(f"{start + len(outcomes)}/{len(facts)} edits committed", file=sys.stderr, flush=True)
    return timings


def commit_measured_together(ws: Workspace, lm, model_dir: Path, args: argparse.Namespace) -> float:
    """Seconds for one more commit onto HEAD's edits, which the commit gate measures together
    (core.workflows.together): every fact HEAD holds, with the new edit in place (the gate's
    reliability 0.0 passes every held edit, so none is measured again as HEAD stands)."""
    held = {f for run in ws.show("HEAD").runs for f in run.fact_ids}
    fact = next(f for f in bench_facts(model_dir, args.edits + 50, args.seed + 1) if f.id not in held)
    ws.add_facts([fact])
    ws.record_outcome(compute(lm, fact, args.method), ws.head().state_fingerprint)
    ws.review(fact.id, "approve")
    assert ws.needs_measuring_together("bench: one more"), "onto HEAD's edits: measured together"
    commit, seconds = timed(lambda: ws.commit("bench: one more", thresholds={"reliability": 0.0}, lm=lm))
    assert commit.gate is not None
    return seconds


def workspace_bytes(ws: Workspace) -> int:
    ws._store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    files = [ws.path, *ws.path.parent.glob(f"{ws.path.name}-*")]
    folder = ws.path.with_name(f"{ws.path.name}.deltas")
    files += list(folder.rglob("*")) if folder.exists() else []
    return sum(f.stat().st_size for f in files if f.is_file())


def timed(action):
    began = time.perf_counter()
    result = action()
    return result, time.perf_counter() - began


def table_rows(f: dict, args: argparse.Namespace, replayed: int, rebuilt: int) -> list[tuple[str, str]]:
    """The printed table, from the recorded ``figures``."""
    n, commits = f["edits"], f["commits"]
    return [
        ("edits committed", f"{n} {args.method} ({args.per_commit} per commit, {commits} commits)"),
        ("device / dtype", f"{f['device']} / {f['dtype']}"),
        ("workspace bytes per edit", f"{f['workspace_bytes'] / n:,.0f} B (deltas {f['delta_bytes'] / n:,.0f} B; "
                                     f"total {f['workspace_bytes'] / 1e6:.1f} MB)"),
        ("compute per edit (mean)", f"{f['compute_s'] / n * 1000:,.1f} ms"),
        ("record + approve per edit", f"{f['record_s'] / n * 1000:,.1f} ms"),
        ("commit (mean)", f"{f['commit_s'] / commits * 1000:,.1f} ms"),
        ("load the base (load_model alone)", f"{f['load_s']:.2f} s"),
        ("check out ROOT (load + fingerprint)", f"{f['checkout_root_s']:.2f} s"),
        ("check out HEAD", f"{f['checkout_head_s']:.2f} s (replays {replayed} deltas)"),
        ("revert one edit from the middle", f"{f['revert_middle_s']:.2f} s (rebuilds with {rebuilt} deltas)"),
        ("  then its kept edits measured again", f"{f['revert_remeasure_s']:.2f} s (the {rebuilt} kept edits' "
                                                 "reliability on the rebuilt state, teacher-forced)"),
        ("one more commit, measured together", f"{f['commit_together_s']:.2f} s (its fact and HEAD's {n - 1}, "
                                               "teacher-forced, with the new edit; none falls under the gate, "
                                               "so none is measured again as HEAD stands)"),
    ]


def main() -> None:
    from core.model.loading import load_model

    args = parse_args()
    options = LoadOptions(device=args.device)
    folder = args.keep or Path(tempfile.mkdtemp(prefix="factsmith-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    model_dir = random_gpt2_124m(folder / "gpt2-124m") if args.random_124m else args.model or demo_model_dir()
    ws = Workspace.create(folder / "bench.factsmith", model_dir, author="bench")
    facts = bench_facts(model_dir, args.edits, args.seed)
    lm = load_model(model_dir, options)
    timings = build_log(ws, lm, facts, args.method, args.per_commit)
    commits = ws.head().seq
    size, delta_bytes = workspace_bytes(ws), ws._store.scalar("SELECT SUM(size) FROM deltas")
    _, load_s = timed(lambda: load_model(model_dir, options))
    _, root_s = timed(lambda: ws.checkout("ROOT", options=options))
    head, head_s = timed(lambda: ws.checkout("HEAD", options=options))  # the first records HEAD's fingerprint
    for _ in range(args.repeat - 1):
        head_s = min(head_s, timed(lambda: ws.checkout("HEAD", options=options))[1])
    middle = ws.show("HEAD").runs[len(facts) // 2]
    with recording() as phases:  # the rebuild, and measuring the kept edits on it (a state never built before)
        reverted, revert_s = timed(lambda: ws.revert([f"run:{middle.id}"], "bench: revert one", options=options))
    remeasure_s = phases.seconds.get("revert: kept edits measured again", 0.0)
    assert reverted.runs == len(facts) - 1 and ws.check() == []
    together_s = commit_measured_together(ws, reverted.lm, model_dir, args)  # onto the N-1 edits left
    n = len(facts)
    figures = {"edits": n, "commits": commits, "method": args.method, "model": str(model_dir),
               "load_s": load_s, "checkout_root_s": root_s, "checkout_head_s": head_s,
               "revert_middle_s": revert_s - remeasure_s, "revert_remeasure_s": remeasure_s,
               "commit_together_s": together_s,
               "workspace_bytes": size, "delta_bytes": delta_bytes, "compute_s": timings["compute"],
               "record_s": timings["record"], "commit_s": timings["commit"], "dtype": str(head.dtype)}
    rows = table_rows({**figures, "device": head.device}, args, head.runs, reverted.runs)
    width = max(len(r[0]) for r in rows)
    print(f"| {'measure'.ljust(width)} | value |\n|{'-' * (width + 2)}|-------|")
    print("\n".join(f"| {name.ljust(width)} | {value} |" for name, value in rows))
    print(f"\nworkspace: {ws.path}" if args.keep else "", end="")
    record("log_scale", figures, device=str(head.device), args=vars(args))
    ws.close()


if __name__ == "__main__":
    main()
