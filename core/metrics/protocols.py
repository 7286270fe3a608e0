"""Per-protocol scores of facts, computed in batches over all facts at once.

Each function reads the model in whatever state the caller has put it (edited or not);
``core.metrics.evaluation`` decides which state each part runs in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from core.facts.fact import Fact
from core.metrics.fluency import diversity, fluency, perplexity_ratio
from core.metrics.results import (
    FluencyScores,
    GeneratedAnswer,
    GenerationScores,
    NeighbourProbabilities,
    ProbabilityScores,
    TargetProbabilities,
    TeacherForcedScores,
)
from core.metrics.scoring import SpanScore, score_pairs, score_spans
from core.model.generation import SamplingOptions, continuations, max_positions
from core.model.loading import LoadedModel
from core.model.tokens import encode_continuation, encode_pair, join_target
from core.util.progress import Progress

Pair = tuple[str, str]
ScoreTable = Mapping[Pair, SpanScore]


def scored_pairs(facts: Sequence[Fact], probability: bool) -> list[Pair]:
    """The (prompt, target) pairs the teacher-forced (and probability) protocols read."""
    pairs: list[Pair] = []
    for f in facts:
        pairs += [(p, f.target_new) for p in (f.prompt, *f.paraphrases)]
        pairs += [(q.prompt, q.answer) for q in (*f.locality, *f.portability)]
        if probability:
            pairs += [(q.prompt, f.target_new) for q in f.locality]
            if f.target_true:
                pairs += [(p, f.target_true) for p in (f.prompt, *f.paraphrases)]
    return list(dict.fromkeys(pairs))


def score_table(lm: LoadedModel, pairs: Sequence[Pair], batch_size: int, progress: Progress) -> dict[Pair, SpanScore]:
    return dict(zip(pairs, score_pairs(lm, pairs, batch_size, progress), strict=True))


def teacher_forced(fact: Fact, table: ScoreTable, locality_before: Sequence[Sequence[int]]) -> TeacherForcedScores:
    """Token accuracy against the targets; locality against the pre-edit argmaxes."""
    return TeacherForcedScores(
        reliability=table[fact.prompt, fact.target_new].accuracy,
        generality=tuple(table[p, fact.target_new].accuracy for p in fact.paraphrases),
        locality=tuple(table[q.prompt, q.answer].agreement(before)
                       for q, before in zip(fact.locality, locality_before, strict=True)),
        portability=tuple(table[q.prompt, q.answer].accuracy for q in fact.portability),
    )


def _target_probabilities(fact: Fact, prompt: str, table: ScoreTable) -> TargetProbabilities:
    old = table[prompt, fact.target_true].nll if fact.target_true else None
    return TargetProbabilities(prompt, table[prompt, fact.target_new].nll, old)


def probability(fact: Fact, table: ScoreTable) -> ProbabilityScores:
    neighbours = tuple(NeighbourProbabilities(q.prompt, table[q.prompt, q.answer].nll,
                                              table[q.prompt, fact.target_new].nll) for q in fact.locality)
    return ProbabilityScores(
        prompt=_target_probabilities(fact, fact.prompt, table),
        paraphrases=tuple(_target_probabilities(fact, p, table) for p in fact.paraphrases),
        neighbours=neighbours,
    )


def greedy_answers(lm: LoadedModel, pairs: Sequence[Pair], progress: Progress) -> list[str]:
    """Greedy decode of as many tokens as each pair's answer has, batched per length."""
    lengths = [len(encode_pair(lm.tokenizer, p, a).target_ids) for p, a in pairs]
    out = [""] * len(pairs)
    for n in sorted(set(lengths)):
        progress.check()
        rows = [i for i, length in enumerate(lengths) if length == n]
        texts = continuations(lm, [pairs[i][0] for i in rows], SamplingOptions(max_new_tokens=n))
        for i, text in zip(rows, texts, strict=True):
            out[i] = text
    return out


def generation(fact: Fact, answers: Mapping[Pair, str], locality_before: Sequence[str]) -> GenerationScores:
    def answer(prompt: str, expected: str, pair_answer: str) -> GeneratedAnswer:
        return GeneratedAnswer(prompt, expected, answers[prompt, pair_answer])

    return GenerationScores(
        reliability=answer(fact.prompt, fact.target_new, fact.target_new),
        generality=tuple(answer(p, fact.target_new, fact.target_new) for p in fact.paraphrases),
        locality=tuple(answer(q.prompt, before, q.answer)
                       for q, before in zip(fact.locality, locality_before, strict=True)),
        portability=tuple(answer(q.prompt, q.answer, q.answer) for q in fact.portability),
    )


def generation_pairs(facts: Sequence[Fact]) -> list[Pair]:
    pairs = [(p, f.target_new) for f in facts for p in (f.prompt, *f.paraphrases)]
    pairs += [(q.prompt, q.answer) for f in facts for q in (*f.locality, *f.portability)]
    return list(dict.fromkeys(pairs))


def edited_texts(lm: LoadedModel, facts: Sequence[Fact], tokens: int) -> tuple[list[str], list[str]]:
    """(free greedy texts from each prompt, prompt included; greedy continuations
    after prompt + " " + target_new) from the model as it is now."""
    options = SamplingOptions(max_new_tokens=tokens)
    free = continuations(lm, [f.prompt for f in facts], options)
    forced = continuations(lm, [join_target(f.prompt, f.target_new) for f in facts], options)
    return [f.prompt + text for f, text in zip(facts, free, strict=True)], forced


def ppl_ratios(lm: LoadedModel, facts: Sequence[Fact], forced: Sequence[str], batch_size: int,
               progress: Progress) -> list[float | None]:
    """PPL_r of each continuation under the model as it is now (call it unedited)."""
    limit = max_positions(lm.model.config)
    spans, rows = [], []
    for i, (f, text) in enumerate(zip(facts, forced, strict=True)):
        prefix = join_target(f.prompt, f.target_new)
        if not text.strip():
            continue  # nothing generated (EOS or no room): no ratio
        pair = encode_continuation(lm.tokenizer, prefix, prefix + text)
        # re-tokenising prefix + text can exceed the context the text was generated in
        ids = pair.ids[:limit] if limit else pair.ids
        if len(ids) <= len(pair.prompt_ids):
            continue  # no room left for any continuation token: no ratio
        spans += [(pair.prompt_ids, 1), (ids, len(pair.prompt_ids))]
        rows.append(i)
    # the continuation is text after its prefix, as an answer after a prompt: hook layers read only the
    # prefix there, as generation showed them (core.edit.hooklayers.prompts_only)
    prefixes = score_spans(lm, spans[0::2], batch_size, progress.stage(0.0, 0.5)) if spans else []
    continued = score_spans(lm, spans[1::2], batch_size, progress.stage(0.5, 1.0), answers=True) if spans else []
    out: list[float | None] = [None] * len(facts)
    for k, i in enumerate(rows):
        prefix_score, continuation_score = prefixes[k], continued[k]
        out[i] = perplexity_ratio(continuation_score.nll, prefix_score.nll)
    return out


def fluency_scores(texts: Sequence[str], forced: Sequence[str], ratios: Sequence[float | None]) -> list[FluencyScores]:
    return [FluencyScores(t, fluency(t), c, r, diversity(t)) for t, c, r in zip(texts, forced, ratios, strict=True)]
