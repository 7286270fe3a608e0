"""What a smaller covariance budget costs ROME in quality, on the demo model.

    .venv/bin/python bench/stats_budget.py [--budgets 0,5000,20000,100000,400000] [--facts 30]

For each token budget (0 = no covariance: u = k*/‖k*‖, the EasyEdit default) it computes
ROME's covariance from text the model samples itself (timed, in a fresh cache), then edits
each of the first ``--facts`` demo counterfactual requests independently and reports the
teacher-forced reliability, generality and locality, and the probability-protocol
efficacy. Prints a table.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _results import add_device_arg, record


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budgets", default="0,5000,20000,100000,400000", help="token budgets; 0 = no covariance")
    parser.add_argument("--facts", type=int, default=30, help="first N requests of the demo set")
    add_device_arg(parser)
    return parser.parse_args()


def measure(lm, facts, budget: int) -> dict[str, float]:
    from core.methods import get_method
    from core.methods.hparams import with_overrides
    from core.methods.stats import layer_covariance
    from core.workflows.runs import run_independent

    overrides = {"use_covariance": budget > 0, "stats_tokens": max(budget, 1)}
    hparams = with_overrides(get_method("rome").preset(lm), overrides)
    stats_s = 0.0
    if budget > 0:
        started = time.perf_counter()
        layer_covariance(lm, hparams.stats_spec(hparams.layer))
        stats_s = time.perf_counter() - started
    report = run_independent(lm, facts, "rome", hparams=hparams)
    post = report["aggregate"]["post"]
    efficacy = [e["post"].get("probability.reliability") for e in report["edits"]]
    efficacy = [x for x in efficacy if x is not None]
    return {"stats_s": stats_s, "s_per_edit": report["seconds_per_edit"],
            "efficacy": sum(efficacy) / len(efficacy) if efficacy else float("nan"), **post}


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="factsmith-stats-bench-") as cache:
        os.environ["FACTSMITH_CACHE_DIR"] = cache  # every budget computed cold, nothing left behind
        run(args)


def run(args: argparse.Namespace) -> None:
    from core.facts.io import read_facts
    from core.model.loading import LoadOptions, load_model
    from core.util.paths import demo_edits_file, demo_model_dir

    lm = load_model(demo_model_dir(), LoadOptions(device=args.device))
    facts = read_facts(demo_edits_file())[: args.facts]
    rows = []
    for budget in (int(b) for b in args.budgets.split(",")):
        result = measure(lm, facts, budget)
        rows.append((budget, result))
        print(f"budget {budget}: done", file=sys.stderr, flush=True)
    print(f"ROME on the demo model ({lm.info.device}), {len(facts)} independent edits, teacher-forced protocol")
    print("| covariance tokens | stats s | s/edit | reliability | generality | locality | efficacy (P new > P old) |")
    print("|---|---|---|---|---|---|---|")
    for budget, r in rows:
        label = "none (u = k*/‖k*‖)" if budget == 0 else f"{budget:,}"
        print(f"| {label} | {r['stats_s']:.1f} | {r['s_per_edit']:.2f} | {r.get('reliability', float('nan')):.3f} "
              f"| {r.get('generality', float('nan')):.3f} | {r.get('locality', float('nan')):.3f} "
              f"| {r['efficacy']:.3f} |")
    record("stats_budget", {"facts": len(facts), "rows": [{"budget": b, **r} for b, r in rows]},
           device=str(lm.info.device), args=vars(args))


if __name__ == "__main__":
    main()
