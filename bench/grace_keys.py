"""The ceiling GRACE's keys put on its generality, whatever the radius.

    OMP_NUM_THREADS=1 .venv/bin/python bench/grace_keys.py [--splits dev,test] [--layers 2,3,4,5]
        [--locality 0.95] [--device cpu]

GRACE answers a paraphrase with an edit's value only when the paraphrase's key (the MLP
down projection's input at its last prompt token) lies within that edit's radius and nearer
to it than to any other edit's key; a locality prompt is spared only when it lies outside
every radius. With all of a split's edits in one codebook, each sharing one radius r, this
script takes every r and reports the best retrieval (the share of paraphrases that would
get their own edit's value) among the radii that spare at least --locality of the locality
prompts, per layer and distance (euclidean, GRACE's; cosine, for comparison). No value is
trained: a paraphrase that is retrieved may still miss its target, so measured generality
(``bench/quality.py --methods grace:sequential``) is at most this. GRACE's own radii differ
per entry (they grow and split), which this uniform radius only brackets.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _results import add_device_arg, record

SPLITS = {"dev": "quality_dev.jsonl", "test": "quality_test.jsonl"}
DISTANCES = ("euclidean", "cosine")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--splits", default="dev,test")
    parser.add_argument("--layers", default="", help="comma-separated (default: every layer)")
    parser.add_argument("--locality", type=float, default=0.95, help="share of locality prompts to spare")
    add_device_arg(parser)
    return parser.parse_args(argv)


def split_keys(lm, facts, layers):
    """Per layer: (edit keys (n, d), [paraphrase keys (p_i, d)], locality keys (m, d))."""
    from core.methods.keys import capture_at
    from core.model.tokens import encode_pair

    modules = {layer: lm.spec.mlp_out_module(layer) for layer in layers}
    keys = {layer: ([], [], []) for layer in layers}
    for fact in facts:
        pairs = [encode_pair(lm.tokenizer, p, fact.target_new) for p in (fact.prompt, *fact.paraphrases)]
        pairs += [encode_pair(lm.tokenizer, probe.prompt, probe.answer) for probe in fact.locality]
        seen = capture_at(lm, list(modules.values()), [p.prompt_ids for p in pairs],
                          [len(p.prompt_ids) - 1 for p in pairs])
        n_par = len(fact.paraphrases)
        for layer, module in modules.items():
            inputs = seen.inputs[module].cpu()
            keys[layer][0].append(inputs[0])
            keys[layer][1].append(inputs[1:1 + n_par])
            keys[layer][2].append(inputs[1 + n_par:])
    import torch

    return {layer: (torch.stack(e), p, torch.cat(loc)) for layer, (e, p, loc) in keys.items()}


def ceiling(edits, paraphrases, locality, distance: str, spare: float) -> dict:
    """Best retrieval over uniform radii that spare ``spare`` of the locality prompts."""
    import torch

    def d(x):
        if distance == "cosine":
            return 1 - torch.nn.functional.normalize(x, dim=-1) @ torch.nn.functional.normalize(edits, dim=-1).T
        return torch.cdist(x, edits)

    nearest_loc = d(locality).min(1).values
    own = []  # per paraphrase: its distance to its own edit when that edit is the nearest, else inf
    for i, keys in enumerate(paraphrases):
        dist = d(keys)
        own += [float(row[i]) if int(row.argmin()) == i else float("inf") for row in dist]
    best = {"retrieval": 0.0, "locality": 1.0, "radius": 0.0}
    for radius in sorted(set(nearest_loc.tolist()) | set(own)):
        kept = float((nearest_loc > radius).float().mean())
        if kept < spare:
            break
        found = sum(o <= radius for o in own) / max(len(own), 1)
        if found > best["retrieval"]:
            best = {"retrieval": found, "locality": kept, "radius": radius}
    return best


def main(argv: list[str] | None = None) -> None:
    from core.facts.io.reader import read_facts
    from core.model.loading import LoadOptions, load_model
    from core.util.paths import demo_model_dir

    args = parse_args(argv)
    lm = load_model(demo_model_dir(), LoadOptions(device=args.device))
    layers = [int(x) for x in args.layers.split(",")] if args.layers else list(range(lm.info.layers))
    rows = []
    for split in args.splits.split(","):
        facts = read_facts(demo_model_dir() / SPLITS[split])
        for layer, (edits, paraphrases, locality) in split_keys(lm, facts, layers).items():
            for distance in DISTANCES:
                rows.append({"split": split, "layer": layer, "distance": distance,
                             **ceiling(edits, paraphrases, locality, distance, args.locality)})
    print(f"GRACE key retrieval ceiling on {lm.info.name}: all of a split's edits in one codebook, one radius, "
          f"locality prompts spared ≥ {args.locality}")
    print("| split | layer | distance | best retrieval | locality spared | radius |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['split']} | {r['layer']} | {r['distance']} | {r['retrieval']:.3f} | {r['locality']:.3f} "
              f"| {r['radius']:.3f} |")
    print(f"saved {record('grace_keys', rows, device=str(lm.device), args=vars(args))}")


if __name__ == "__main__":
    main()
