"""Greedy exact match of objects, computed in one teacher-forced pass per batch.

Greedy decoding produces " {object}." exactly when the argmax at every position of
those tokens (given the prompt and the tokens before) is that token, so checking the
argmaxes under teacher forcing is the same test as decoding, only batched.
"""

from __future__ import annotations

from core.demo_build.knowledge import KnowledgeFact


def greedy_matches(model, tokenizer, pairs: list[tuple[str, str]], batch_size: int = 256) -> list[bool]:
    """For each (prompt, object): does greedy decoding give ' object.' next?"""
    import torch

    results: list[bool] = []
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        prompts = [tokenizer(p)["input_ids"] for p, _ in chunk]
        answers = [tokenizer(f" {o}.")["input_ids"] for _, o in chunk]
        width = max(len(p) + len(a) for p, a in zip(prompts, answers))
        ids = torch.full((len(chunk), width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, (p, a) in enumerate(zip(prompts, answers)):
            ids[row, : len(p) + len(a)] = torch.tensor(p + a)
            mask[row, : len(p) + len(a)] = 1
        with torch.no_grad():
            predicted = model(input_ids=ids, attention_mask=mask).logits.argmax(-1)
        for row, (p, a) in enumerate(zip(prompts, answers)):
            guess = predicted[row, len(p) - 1 : len(p) + len(a) - 1].tolist()
            results.append(guess == a)
    return results


def knowledge_accuracy(model, tokenizer, facts: list[KnowledgeFact]) -> dict:
    """Accuracy on trained and withheld (subject, phrasing) pairs."""
    trained = [(p, f.object) for f in facts for p in f.trained]
    withheld = [(f.phrasings[f.withheld], f.object) for f in facts]
    trained_ok = greedy_matches(model, tokenizer, trained)
    withheld_ok = greedy_matches(model, tokenizer, withheld)
    per_fact, pos = [], 0
    for f in facts:
        n = len(f.trained)
        per_fact.append(all(trained_ok[pos : pos + n]))
        pos += n
    by_relation: dict[str, list[bool]] = {}
    for f, ok in zip(facts, withheld_ok):
        by_relation.setdefault(f.relation, []).append(ok)
    return {
        "facts": len(facts),
        "trained_pairs": len(trained),
        "trained_pair_accuracy": sum(trained_ok) / len(trained),
        "trained_fact_accuracy": sum(per_fact) / len(facts),
        "withheld_accuracy": sum(withheld_ok) / len(withheld),
        "withheld_by_relation": {r: sum(v) / len(v) for r, v in sorted(by_relation.items())},
        "fact_known": [a and b for a, b in zip(per_fact, withheld_ok)],
    }
