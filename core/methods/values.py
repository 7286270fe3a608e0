"""What a located key must map to: the value optimisation's problem, shared by ROME and MEMIT.

A ``ValueProblem`` holds one fact's prompts (the bare prompt first, then prefixed ones),
the target's token ids and the prompts whose next-token distributions must hold (KL):
"{subject} is a" and, with ``essence_samples``, texts the model writes about the subject.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from core.facts.fact import Fact
from core.methods.base import EditError
from core.methods.keys import (
    SubjectNotFoundError,
    SubjectPrompt,
    capture_at,
    prefixed_subject_prompts,
    subject_prompt,
    subject_samples,
    target_ids,
)
from core.model.generation import max_positions
from core.model.loading import LoadedModel
from core.util.timing import phase


@dataclass(frozen=True)
class FactResult:
    """One fact's value optimisation, for Delta.info."""

    steps: int
    loss: float
    nll: float
    p_target: float
    delta_norm: float
    v0_norm: float


@dataclass(frozen=True)
class ValueProblem:
    """What a value optimisation reads: the prefixed prompts (bare one first), the
    target's ids and the prompts whose next-token distributions must hold: at the
    positions ``kl_at[i]`` of ``kl_prompts[i]``, each position weighing ``kl_weights[i]``."""

    prompts: list[SubjectPrompt]
    target: list[int]
    kl_prompts: list[SubjectPrompt]
    kl_at: tuple[tuple[int, ...], ...] = ()
    kl_weights: tuple[float, ...] = ()

    def kl_pairs(self, first_row: int) -> list[tuple[int, int, float]]:
        """(row, position, weight) of every measured position, rows numbered from ``first_row``."""
        return [(first_row + i, pos, w) for i, (at, w) in enumerate(zip(self.kl_at, self.kl_weights, strict=True))
                for pos in at]


KL_DIRECTIONS = ("edited_original", "original_edited")


def kl_rows(kl_init, kl_logp, direction: str):
    """Per-row KL between the edited (``kl_logp``) and original (``kl_init``) next-token
    log-distributions. ``edited_original`` is KL(p_edited ‖ p_original), the reference
    code's (``kl_div(log p_orig, log p_edited, log_target=True)``); ``original_edited``
    is the reverse, which penalises losing mass the original put anywhere."""
    if direction == "edited_original":
        return (kl_logp.exp() * (kl_logp - kl_init)).sum(-1)
    if direction == "original_edited":
        return (kl_init.exp() * (kl_init - kl_logp)).sum(-1)
    raise ValueError(f"kl_direction must be one of {', '.join(KL_DIRECTIONS)}, not {direction!r}")


class KLSettings(Protocol):
    """The hyperparameters of what must hold while a value is optimised (ROME, MEMIT)."""

    kl_templates: tuple[str, ...]
    kl_factor: float
    kl_direction: str
    essence_samples: int
    essence_tokens: int
    essence_factor: float
    seed: int


def value_problem(lm: LoadedModel, fact: Fact, hp: KLSettings, prefixes: Sequence[str]) -> ValueProblem:
    """Tokenise and locate one fact's prompts; EditError when the request is unusable.

    What must hold: ROME's "{subject} is a" next token (weight kl_factor), and, with
    essence_samples, every next token of texts the model writes about the subject
    (weight essence_factor, spread over their tokens): the subject's other facts."""
    try:
        prompts = prefixed_subject_prompts(lm.tokenizer, fact.prompt, fact.subject, prefixes)
        target = target_ids(lm.tokenizer, fact.prompt, fact.target_new)
        kl_prompts = [subject_prompt(lm.tokenizer, t.format(fact.subject), fact.subject) for t in hp.kl_templates]
        essence = [subject_prompt(lm.tokenizer, text, fact.subject, 0) for text in _essence_texts(lm, fact, hp)]
    except (SubjectNotFoundError, ValueError) as exc:
        raise EditError(f"cannot edit {fact.subject!r}: {exc}") from exc
    kl_at = [(len(p.ids) - 1,) for p in kl_prompts] + [tuple(range(p.subject_last, len(p.ids))) for p in essence]
    n_essence = sum(len(at) for at in kl_at[len(kl_prompts):])
    weights = ([hp.kl_factor / max(len(kl_prompts), 1)] * len(kl_prompts)
               + [hp.essence_factor / max(n_essence, 1)] * len(essence))
    return ValueProblem(_within_context(lm, prompts, len(target)), target, [*kl_prompts, *essence],
                        tuple(kl_at), tuple(weights))


def _essence_texts(lm: LoadedModel, fact: Fact, hp: KLSettings) -> list[str]:
    limit = max_positions(lm.model.config)
    tokens = hp.essence_tokens if limit is None else min(hp.essence_tokens, limit // 2)
    exclude = [fact.target_new, *([fact.target_true] if fact.target_true else [])]
    with phase("essence samples"):
        return subject_samples(lm, fact.subject, hp.essence_samples, tokens, hp.seed, exclude)


def value_start(lm: LoadedModel, problem: ValueProblem, module: str):
    """(module inputs at the prompts' subject tokens, its output v0 on the bare prompt,
    the initial log-probabilities at the KL positions), from one forward pass."""
    import torch

    prompts, kl_prompts = problem.prompts, problem.kl_prompts
    everything = [*prompts, *kl_prompts]
    seen = capture_at(lm, [module], [p.ids for p in everything], [p.subject_last for p in everything])
    pairs = problem.kl_pairs(len(prompts))
    kl_init = torch.log_softmax(seen.logits[[r for r, _, _ in pairs], [c for _, c, _ in pairs]], dim=-1)
    return seen.inputs[module][: len(prompts)], seen.outputs[module][0], kl_init


def _within_context(lm: LoadedModel, prompts: list[SubjectPrompt], n_target: int) -> list[SubjectPrompt]:
    """Drop prefixed prompts that would not fit the model's context with the target."""
    limit = max_positions(lm.model.config)
    if limit is None:
        return prompts
    if len(prompts[0].ids) + n_target - 1 > limit:
        raise EditError(f"the prompt and target are longer than the model's context of {limit} tokens")
    return [p for p in prompts if len(p.ids) + n_target - 1 <= limit]
