"""Every weight and side-module method on one device: the edit takes, and reverts exactly.

    .venv/bin/python bench/device_paths.py [--device cuda] [--methods rome,ft-l,...] [--facts 3]
        [--split test|dev|demo|FILE] [--dtype auto|float32|float16|bfloat16]

Meant for a GPU (CI has none, so no test runs the CUDA path): per method it loads the demo
model on ``--device``, computes independent single edits of the first ``--facts`` requests of
the split and checks, per edit, that computing left the weights bit-identical (the state
fingerprint), that the applied delta changes the state, and that reverting restores the
fingerprint exactly. Prints a table: seconds per edit (median), post-edit teacher-forced
reliability / generality / locality (means), and whether every state check held.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _results import add_device_arg, record  # noqa: E402

METHODS = "rome,ft-l,ft-m,memit,alphaedit,ice,grace,comeba-hk"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", default=METHODS)
    parser.add_argument("--facts", type=int, default=3)
    parser.add_argument("--split", default="test", help="demo, dev, test or a path to an edit file")
    parser.add_argument("--dtype", default="auto")
    add_device_arg(parser)
    return parser.parse_args(argv)


def _facts(split: str, count: int):
    from core import demo_model_dir, read_facts

    names = {"demo": "demo_edits.jsonl", "dev": "quality_dev.jsonl", "test": "quality_test.jsonl"}
    path = demo_model_dir() / names[split] if split in names else Path(split)
    return list(read_facts(path))[:count]


def _one_edit(lm, fact, method: str) -> dict:
    """Compute, apply, revert one edit; the state checks and the post-edit headline."""
    from core import apply_delta, compute_edit, revert_delta, state_fingerprint

    before = state_fingerprint(lm.model)
    outcome = compute_edit(lm, [fact], method)
    untouched = state_fingerprint(lm.model) == before
    applied = apply_delta(lm.model, outcome.delta)
    try:
        changed = state_fingerprint(lm.model) != before
    finally:
        revert_delta(lm.model, applied)
    restored = state_fingerprint(lm.model) == before
    post = outcome.metrics().get("post", {})
    return {"seconds": outcome.seconds, "ok": untouched and changed and restored,
            **{k: post.get(k) for k in ("reliability", "generality", "locality")}}


def _mean(rows: list[dict], key: str) -> float | None:
    values = [r[key] for r in rows if isinstance(r.get(key), int | float)]
    return statistics.fmean(values) if values else None


def measure(method: str, args: argparse.Namespace) -> dict:
    from core import LoadOptions, demo_model_dir, load_model

    lm = load_model(demo_model_dir(), LoadOptions(device=args.device, dtype=args.dtype))
    facts = _facts(args.split, args.facts)
    started = time.perf_counter()
    rows = [_one_edit(lm, fact, method) for fact in facts]
    return {"method": method, "device": str(lm.info.device), "dtype": str(lm.info.dtype),
            "s_per_edit": statistics.median(r["seconds"] for r in rows),
            "wall_s": time.perf_counter() - started,
            **{k: _mean(rows, k) for k in ("reliability", "generality", "locality")},
            "state_checks": "exact" if all(r["ok"] for r in rows) else "FAILED"}


def _cell(value) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    figures = []
    for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
        try:
            figures.append(measure(method, args))
        except Exception as exc:  # one method's failure must not hide the others'
            figures.append({"method": method, "state_checks": f"ERROR {type(exc).__name__}: {exc}"})
    columns = ("method", "device", "dtype", "s_per_edit", "wall_s", "reliability", "generality", "locality",
               "state_checks")
    print("| " + " | ".join(columns) + " |\n|" + "---|" * len(columns))
    for row in figures:
        print("| " + " | ".join(_cell(row.get(c, "")) for c in columns) + " |")
    print(f"results: {record('device_paths', figures, args.device, vars(args))}")
    return 0 if all(r.get("state_checks") == "exact" for r in figures) else 1


if __name__ == "__main__":
    raise SystemExit(main())
