"""Where one edit's time goes, per phase, as a markdown table.

    OMP_NUM_THREADS=1 .venv/bin/python bench/profile_edit.py [--methods rome,memit,ice] [--edits 5]
        [--model DIR] [--split demo|dev|test|FILE] [--stats-tokens N] [--no-eval] [--set method.KEY=VALUE ...]

Each method gets its default preset for the model (``--set`` overrides a value). One
warm-up edit first (reading the cached covariance statistics, computing them if missing),
then ``--edits`` independent single edits; per edit, the phases ``core.util.timing``
records inside the method (key capture, essence samples, value optimisation and its
steps, KL, covariance solve, …) and the post-edit evaluation. Columns: mean seconds per
edit, calls per edit, share of the edit's time (nested phases overlap their parent).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", default="rome,memit,ice")
    parser.add_argument("--edits", type=int, default=5)
    parser.add_argument("--model", help="model folder (default: the demo model)")
    parser.add_argument("--split", default="demo", help="demo, dev, test or a path to an edit file")
    parser.add_argument("--stats-tokens", type=int, default=0, help="covariance budget (0: the preset's)")
    parser.add_argument("--no-eval", action="store_true", help="skip the post-edit evaluation")
    parser.add_argument("--set", dest="assignments", action="append", default=[], metavar="METHOD.KEY=VALUE")
    return parser.parse_args(argv)


def _hparams(lm, method: str, args: argparse.Namespace):
    from bench.quality import overrides_for
    from core.methods import resolve_hparams

    overrides: dict = dict(overrides_for(method, args.assignments))
    hp = resolve_hparams(lm, method, overrides or None)
    if args.stats_tokens and any(f.name == "stats_tokens" for f in dataclasses.fields(hp)):
        hp = dataclasses.replace(hp, stats_tokens=args.stats_tokens)
    return hp


def profile(lm, method_name: str, facts, args: argparse.Namespace) -> tuple[list[dict], list[float], list[int]]:
    """Per edit: {phase: (seconds, calls)}; the edit's seconds; its optimisation steps."""
    from core.methods import get_method
    from core.metrics.evaluation import capture_reference, evaluate
    from core.util.timing import phase, recording

    method = get_method(method_name)
    hp = _hparams(lm, method_name, args)
    method.compute(lm, facts[:1], hp)  # warm-up: first-call allocations, the cached covariance
    per_edit, seconds, steps = [], [], []
    for fact in facts:
        reference = None if args.no_eval else capture_reference(lm, [fact])
        with recording() as times:
            started = time.perf_counter()
            delta = method.compute(lm, [fact], hp)
            seconds.append(time.perf_counter() - started)
            if not args.no_eval:
                with phase("evaluation (post-edit)"):
                    evaluate(lm, [fact], edit=delta, reference=reference)
        per_edit.append({k: (times.seconds[k], times.calls[k]) for k in times.seconds})
        steps.append(_steps(delta))
    return per_edit, seconds, steps


def _steps(delta) -> int:
    facts = delta.info.get("facts")
    if facts:
        return max(int(f.get("steps", 0)) for f in facts)
    return len(delta.info.get("losses", ()))


def table(method: str, per_edit: list[dict], seconds: list[float], steps: list[int]) -> str:
    n = len(per_edit)
    names = list(dict.fromkeys(k for edit in per_edit for k in edit))
    total = statistics.mean(seconds)
    lines = [f"### {method}: {statistics.median(seconds):.3f} s/edit (median of {n}; mean {total:.3f}), "
             f"steps per edit {statistics.median(steps):g} (median; {min(steps)}-{max(steps)})", "",
             "| phase | s/edit | calls/edit | share of edit |", "|---|---|---|---|"]
    for name in names:
        s = sum(edit.get(name, (0.0, 0))[0] for edit in per_edit) / n
        calls = sum(edit.get(name, (0.0, 0))[1] for edit in per_edit) / n
        share = "" if name.startswith("evaluation") else f"{100 * s / total:.0f}%"
        lines.append(f"| {name} | {s:.4f} | {calls:g} | {share} |")
    lines.append(f"| **edit (method.compute)** | {total:.4f} | 1 | 100% |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    import torch

    from bench.quality import read_split, split_file
    from core.model.loading import load_model
    from core.util.paths import demo_model_dir

    args = parse_args(argv)
    lm = load_model(args.model or str(demo_model_dir()))
    facts, _ = read_split(split_file(args.split), args.edits)
    print(f"model {lm.info.parameters / 1e6:.1f}M params on {lm.info.device}, torch threads "
          f"{torch.get_num_threads()}, {len(facts)} edits from {args.split}\n")
    for method in args.methods.split(","):
        print(table(method, *profile(lm, method, facts, args)), "\n", flush=True)


if __name__ == "__main__":
    main()
