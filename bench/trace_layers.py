"""``layer: auto`` against the fixed preset layer, on the demo model's dev split.

    OMP_NUM_THREADS=1 .venv/bin/python bench/trace_layers.py [--method rome] [--per-relation 4]
                                                             [--device cpu] [--json FILE]

Takes the first --per-relation facts of each relation from assets/demo-model/dev_edits.jsonl
(4 × 5 relations = 20 by default) and edits each independently from the unedited model
with the method's preset, four ways: the preset's own layer; ``layer: auto`` tracing each
fact (``auto_layer_hparams`` without a cache); and ``layer: auto`` with a per-relation
``TraceCache`` (the first fact of each relation is traced, the rest reuse its layer); and
tracing each fact with an MLP window of 3 layers instead of the default (a fifth of the
depth: 1 layer on the demo model).
Scores are teacher-forced reliability, generality and locality (``evaluate`` with a
pre-edit reference, as tests/core/edit_helpers.py ``independent_reports`` does). Prints a
markdown table and the traced layers.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.facts.io import read_facts
from core.methods import get_method
from core.metrics.evaluation import EvalOptions, capture_reference, evaluate
from core.metrics.results import aggregate
from core.metrics.tracing import TraceOptions
from core.model.loading import LoadOptions, load_model
from core.util.paths import demo_model_dir
from core.util.progress import silent
from core.workflows.auto_layer import TraceCache, auto_layer_hparams

METRICS = ("reliability", "generality", "locality")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", default="rome")
    parser.add_argument("--per-relation", type=int, default=4)
    parser.add_argument("--facts", type=Path, help="edit requests (default: the demo model's dev_edits.jsonl)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    return parser.parse_args()


def dev_facts(per_relation: int, path: Path | None = None):
    chosen, seen = [], Counter()
    for fact in read_facts(path or demo_model_dir() / "dev_edits.jsonl"):
        if seen[fact.relation] < per_relation:
            chosen.append(fact)
            seen[fact.relation] += 1
    return chosen


def run(lm, method_name: str, facts, reference, choose) -> dict:
    """Edit each fact alone with ``choose(fact) -> hparams``; mean metrics and layers used."""
    method, options = get_method(method_name), EvalOptions(protocols=("teacher_forced",))
    reports, layers, seconds = [], [], 0.0
    for fact in facts:
        hp = choose(fact)
        started = time.perf_counter()
        delta = method.compute(lm, [fact], hp, silent())
        seconds += time.perf_counter() - started
        reports.append(evaluate(lm, [fact], edit=delta, reference=reference, options=options))
        layers.append(getattr(hp, "layer", None) if hasattr(hp, "layer") else list(hp.layers))
    means = aggregate(reports)
    per_relation = {}
    for fact, report in zip(facts, reports, strict=True):
        per_relation.setdefault(fact.relation, []).append(aggregate(report)["reliability"])
    return {**{m: means[m] for m in METRICS}, "layers": layers, "seconds_per_edit": seconds / len(facts),
            "reliability_by_relation": {r: sum(v) / len(v) for r, v in per_relation.items()}}


def main() -> None:
    args = parse_args()
    lm = load_model(demo_model_dir(), LoadOptions(device=args.device))
    facts = dev_facts(args.per_relation, args.facts)
    reference = capture_reference(lm, facts)
    preset = get_method(args.method).preset(lm)
    cache, wide = TraceCache(), TraceOptions(kinds=("mlp",), window=3)
    rows = {
        "fixed preset": run(lm, args.method, facts, reference, lambda f: preset),
        "auto, traced per fact": run(lm, args.method, facts, reference,
                                     lambda f: auto_layer_hparams(lm, args.method, preset, [f])[0]),
        "auto, per-relation cache": run(lm, args.method, facts, reference,
                                        lambda f: auto_layer_hparams(lm, args.method, preset, [f], cache)[0]),
        "auto, traced per fact, MLP window 3": run(
            lm, args.method, facts, reference,
            lambda f: auto_layer_hparams(lm, args.method, preset, [f], options=wide)[0]),
    }
    source = args.facts.name if args.facts else "dev_edits.jsonl"
    print(f"{args.method} on {lm.info.name}, {len(facts)} facts of {source} ({args.per_relation} per relation), "
          "independent edits, teacher-forced")
    print("| setting | reliability | generality | locality | layers used | s/edit |")
    print("|---|---|---|---|---|---|")
    for name, row in rows.items():
        used = ", ".join(f"{layer}×{n}" for layer, n in sorted(Counter(map(str, row["layers"])).items()))
        print(f"| {name} | {row['reliability']:.2f} | {row['generality']:.2f} | {row['locality']:.2f} "
              f"| {used} | {row['seconds_per_edit']:.1f} |")
    for name, row in rows.items():
        print(f"{name}: reliability by relation " +
              ", ".join(f"{r} {v:.2f}" for r, v in row["reliability_by_relation"].items()))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
