"""Model-level subcommands: generate, demo-accuracy."""

from __future__ import annotations

import argparse
import json

from core.cli.options import add_model_options, load_from_args


def register(sub) -> None:
    gen = sub.add_parser("generate", help="greedy (or seeded sampled) continuation of prompts")
    add_model_options(gen)
    gen.add_argument("prompts", nargs="+", help="prompt texts")
    gen.add_argument("--max-new-tokens", type=int, default=20)
    gen.add_argument("--sample", action="store_true", help="sample instead of greedy decoding")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--json", action="store_true", help="machine-readable output")
    gen.set_defaults(handler=generate, render=_render_generate)

    acc = sub.add_parser("demo-accuracy", help="measure the demo model's knowledge (the model card's figures)")
    add_model_options(acc)
    acc.add_argument("--json", action="store_true", help="machine-readable output")
    acc.set_defaults(handler=demo_accuracy, render=_render_accuracy)


def generate(args: argparse.Namespace) -> dict:
    from core.model.generation import SamplingOptions, continuations

    empty = [i for i, prompt in enumerate(args.prompts, 1) if not prompt.strip()]
    if empty:  # before the model loads: the model would continue nothing (trial 45)
        raise ValueError(f"prompt {empty[0]} is empty: give the text the model should continue")
    if args.max_new_tokens < 1:
        raise ValueError(f"--max-new-tokens must be at least 1, not {args.max_new_tokens}")
    lm = load_from_args(args)
    options = SamplingOptions(max_new_tokens=args.max_new_tokens, greedy=not args.sample, seed=args.seed)
    outputs = continuations(lm, args.prompts, options)
    return {"model": lm.info.name, "results": [{"prompt": p, "continuation": c} for p, c in zip(args.prompts, outputs)]}


def _render_generate(result: dict) -> str:
    return "".join(f"{r['prompt']} \u2192{r['continuation']}\n" for r in result["results"])


def demo_accuracy(args: argparse.Namespace) -> dict:
    from pathlib import Path

    from core.demo_build.accuracy import knowledge_accuracy
    from core.demo_build.knowledge import KnowledgeFact

    lm = load_from_args(args)
    facts_file = Path(lm.info.path) / "facts.jsonl"
    if not facts_file.is_file():
        raise ValueError(f"{facts_file} not found: demo-accuracy needs a model folder with facts.jsonl")
    with facts_file.open(encoding="utf-8") as fh:
        facts = [KnowledgeFact.from_record(json.loads(line)) for line in fh if line.strip()]
    result = knowledge_accuracy(lm.model, lm.tokenizer, facts)
    result.pop("fact_known")
    return {"model": lm.info.name, "protocol": "greedy exact match of ' {object}.'", **result}


def _render_accuracy(r: dict) -> str:
    rel = ", ".join(f"{k} {v:.1%}" for k, v in r["withheld_by_relation"].items())
    return (
        f"{r['model']}: {r['facts']} facts\n"
        f"  trained pairs  {r['trained_pair_accuracy']:.1%} ({r['trained_pairs']} pairs)\n"
        f"  trained facts  {r['trained_fact_accuracy']:.1%} (every trained phrasing right)\n"
        f"  withheld pairs {r['withheld_accuracy']:.1%} ({rel})\n"
    )
