"""ICE: consistent in-context editing (seed 000, Algorithm 1; methods.md §3).

Fine-tunes the MLP down projections of MEMIT's layers toward the model's own
distribution given a context c that states the new fact, not toward a one-hot target
alone. Every step s:

1. sample a short continuation x_c ~ p_θs(· | [c, q, x*]) (``sample_tokens`` tokens at
   ``temperature``, seeded), recording the with-context next-token distributions
   along it; they are the fixed target of this step (the dynamic target);
2. loss = −log p_θ([x*, x_c] | q) / (|x*| + |x_c|), one mean over the target's and the
   sampled tokens (hard targets; λ weighs the sampled ones): the official code's objective
   (``objective="hard"``). The ``soft`` variant is CE(x* | q) + λ · mean_j
   KL(p_θs(· | c, q, x*, x_c<j) ‖ p_θ(· | q, x*, x_c<j)) at temperature 1, a different
   objective unless x_c is sampled at T = 1 (tokens after an EOS are not masked);
3. one Adam step, then clamp every weight into W0 ± ε.

Like FT, float32 copies are trained through ``torch.func.functional_call``; the delta
is the dense difference of the touched matrices. The context is the fact's ``context``
sentences, else ``context_templates`` filled with the prompt and each paraphrase, cut
to fit the model's context window.

Presets (``core.methods.presets``):

| size    | layers        | lr    | steps | ε     | T   | samples | source                      |
|---------|---------------|-------|-------|-------|-----|---------|-----------------------------|
| >= 100M | MEMIT's       | 7e-4  | 25    | 5e-4  | 100 | 5       | reference (§D.2, official)  |
| < 100M  | MEMIT's (0-1) | 1e-2  | 25    | 2e-2  | 1   | 1       | demo dev splits; retain 16  |

Tuning (10 dev facts, single edits, teacher-forced): the reference lr/ε leave a 6-layer
model unedited, like FT's (methods.md §5); lr 1e-2 with ε 2e-2 edits every fact
(layers 0-1: reliability 1.0, generality 0.74, locality 0.83; FT-M: 1.0, 1.0, 0.26).
Temperature 100 draws near-uniform x_c, which on the demo model (trained on single
sentences, no in-context ability) lowered locality (0.71) and made PPL_r explode;
λ = 3 changed little.

Objective: ``objective="hard"`` (NLL of the sampled x_c, the official code's) is the
default and the small preset's; ``soft`` (KL to the temperature-1 with-context
distribution, the project's earlier objective) stays as a variant. On quality_dev.jsonl
(`bench/quality.py --split dev --methods ice --set ice.KEY=VALUE`), reliability /
generality / locality / PPL_r median: soft 1.000 / 0.880 / 0.722 / 0.057, hard (with
CE + λ·mean NLL(x_c), before the official weighting) 1.000 / 0.903 / 0.723 / 0.041, the
same with a retain set (16 samples per kind, core.methods.retain, as FT-M's) 1.000 /
0.832 / 0.846 / 0.041; with the official weighting and the retain set (the small
preset) 0.992 / 0.734 / 0.865 / 0.039.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from core.edit.deltas import Delta
from core.facts.fact import Fact
from core.methods.base import EditError
from core.methods.hparams import as_dict
from core.methods.presets import preset_values
from core.methods.retain import RetainSet, build_retain_set, retain_loss
from core.methods.training import forward_with, param_names, row_losses, trained_delta
from core.model.loading import LoadedModel
from core.model.tokens import EncodedPair, encode_pair
from core.util.progress import Progress, silent
from core.util.timing import phase

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class ICEHParams:
    layers: tuple[int, ...] = ()  # (): MEMIT's layers for this model
    module: str = "mlp_out"
    lr: float = 7e-4
    steps: int = 25
    norm_constraint: float | None = 5e-4  # ε: keep every weight within W0 ± ε
    kl_factor: float = 1.0  # λ
    sample_tokens: int = 3  # length of x_c
    samples: int = 5  # continuations per fact per step
    temperature: float = 100.0  # sampling x_c
    objective: str = "hard"  # hard: NLL of the sampled x_c (official code); soft: KL to p(·|c,q,x*) at T=1
    context_templates: tuple[str, ...] = ("{prompt} {target}.",)  # filled per prompt and paraphrase
    max_context_sentences: int = 5
    weight_decay: float = 0.0
    loss_threshold: float = 0.0  # stop once the mean loss is below it (0: every step)
    retain_samples: int = 0  # texts per fact and kind that keep their distribution (core.methods.retain)
    retain_tokens: int = 12
    retain_factor: float = 1.0
    batch_size: int = 16  # facts per forward pass
    seed: int = 0


@dataclass(frozen=True)
class _Row:
    """One (fact, sample) row: the plain and the with-context encodings of q → x*."""

    plain: EncodedPair
    context: EncodedPair


class IceMethod:
    name = "ice"
    hparams_class = ICEHParams

    def preset(self, lm: LoadedModel) -> ICEHParams:
        return ICEHParams(**preset_values(self.name, lm))

    def statistics(self, lm: LoadedModel, hparams: ICEHParams) -> tuple:
        return ()  # no covariance statistics

    def compute(self, lm: LoadedModel, facts: Sequence[Fact], hparams: ICEHParams | None = None,
                progress: Progress | None = None) -> Delta:
        """The joint edit of all facts; the model is left bit-identical, also on error."""
        hp, progress = hparams or self.preset(lm), progress or silent()
        if not facts:
            raise EditError("ice: no facts to edit")
        _validate(hp)
        hp = hp if hp.layers else dataclasses.replace(hp, layers=self.preset(lm).layers)
        names = param_names(lm, hp.layers, hp.module)
        rows: list[_Row] = []

        def prepare():
            import torch

            rows.extend(_encode(lm, f, hp) for f in facts)
            generator = torch.Generator().manual_seed(hp.seed)
            with phase("retain set"):
                retain = (build_retain_set(lm, facts, hp.retain_samples, hp.retain_tokens, hp.seed)
                          if hp.retain_samples > 0 else None)
            return lambda weights: _step(lm, weights, rows, hp, generator, retain)

        trained = trained_delta(self.name, lm, names, prepare, hp, progress)
        info = {"losses": [round(x, 6) for x in trained.losses], "seconds": round(trained.seconds, 3),
                "params": names, "contexts": [_context_text(lm, r) for r in rows]}
        return Delta(self.name, trained.updates, tuple(f.id for f in facts), as_dict(hp), info)


ICE = IceMethod()


def _validate(hp: ICEHParams) -> None:
    if hp.steps < 1 or hp.lr <= 0 or hp.batch_size < 1 or hp.samples < 1:
        raise EditError("ice: steps, lr, batch_size and samples must be positive")
    if hp.sample_tokens < 0 or hp.temperature <= 0 or hp.kl_factor < 0:
        raise EditError("ice: sample_tokens and kl_factor must be non-negative, temperature positive")
    if hp.objective not in OBJECTIVES:
        raise EditError(f"ice: objective must be one of {', '.join(OBJECTIVES)}, not {hp.objective!r}")


def context_sentences(fact: Fact, templates: Sequence[str]) -> list[str]:
    """The fact's own context, else the templates stated for the prompt and each paraphrase."""
    if fact.context:
        return [s.strip() for s in fact.context if s.strip()]
    return [t.format(prompt=p.rstrip(), target=fact.target_new.strip(), subject=fact.subject)
            for p in (fact.prompt, *fact.paraphrases) for t in templates]


def _encode(lm: LoadedModel, fact: Fact, hp: ICEHParams) -> _Row:
    """Both encodings, dropping context sentences until [c, q, x*, x_c] fits the model."""
    from core.model.generation import max_positions

    limit = max_positions(lm.model.config)
    try:
        plain = encode_pair(lm.tokenizer, fact.prompt, fact.target_new)
        sentences = context_sentences(fact, hp.context_templates)[: hp.max_context_sentences]
        while True:
            context = " ".join(sentences)
            prompt = f"{context} {fact.prompt}" if context else fact.prompt
            with_context = encode_pair(lm.tokenizer, prompt, fact.target_new)
            if limit is None or len(with_context.ids) + hp.sample_tokens <= limit or not sentences:
                break
            sentences = sentences[:-1]
    except ValueError as exc:
        raise EditError(f"ice: cannot encode {fact.subject!r}: {exc}") from exc
    if limit is not None and len(plain.ids) + hp.sample_tokens > limit:
        raise EditError(f"ice: the prompt and target do not fit the model's context of {limit} tokens")
    return _Row(plain, with_context)


def _context_text(lm: LoadedModel, row: _Row) -> str:
    return lm.tokenizer.decode(list(row.context.prompt_ids), skip_special_tokens=True)


def sample_continuations(lm: LoadedModel, overrides: dict, prefixes: Sequence[Sequence[int]], tokens: int,
                         temperature: float, generator):
    """(x_c per row, with-context log-probabilities predicting each of its tokens
    (rows, tokens, vocab), temperature 1). No KV cache: the continuations are short."""
    import torch

    seqs = [list(p) for p in prefixes]
    targets = []
    with torch.no_grad():
        for _ in range(tokens):
            logits = forward_with(lm, overrides, seqs)
            last = logits[torch.arange(len(seqs)), torch.tensor([len(s) - 1 for s in seqs])].float()
            targets.append(torch.log_softmax(last, dim=-1))
            probs = torch.softmax(last / temperature, dim=-1).cpu()
            for seq, token in zip(seqs, torch.multinomial(probs, 1, generator=generator)[:, 0].tolist(), strict=True):
                seq.append(token)
    sampled = [s[len(p):] for s, p in zip(seqs, prefixes, strict=True)]
    return sampled, (torch.stack(targets, dim=1) if targets else None)


OBJECTIVES = ("hard", "soft")


def _chunk_loss(lm: LoadedModel, overrides: dict, rows: Sequence[_Row], sampled, targets, hp: ICEHParams):
    """Per-row CE on x* given q plus λ times the continuation term: the mean NLL of the
    sampled x_c (hard), or the mean KL toward the with-context distributions (soft)."""
    import torch

    logits = forward_with(lm, overrides, [list(r.plain.ids) + s for r, s in zip(rows, sampled, strict=True)])
    loss = row_losses(logits, [r.plain for r in rows], "target_masked")
    if targets is None or not hp.kl_factor:
        return loss
    first = torch.tensor([len(r.plain.ids) - 1 for r in rows], device=logits.device)
    positions = first[:, None] + torch.arange(targets.shape[1], device=logits.device)[None, :]
    logp = torch.log_softmax(logits[torch.arange(len(rows), device=logits.device)[:, None], positions].float(), -1)
    if hp.objective == "hard":  # one mean over x* and x_c's tokens, as the official code
        tokens = torch.tensor(sampled, dtype=torch.long, device=logits.device)
        sampled_nll = -logp.gather(-1, tokens[..., None])[..., 0].sum(-1)
        n_target = torch.tensor([len(r.plain.target_ids) for r in rows], device=logits.device, dtype=loss.dtype)
        return (n_target * loss + hp.kl_factor * sampled_nll) / (n_target + tokens.shape[1])
    kl = (targets.exp() * (targets - logp)).sum(-1).mean(-1)
    return loss + hp.kl_factor * kl


def _step(lm: LoadedModel, weights: dict, rows: Sequence[_Row], hp: ICEHParams, generator,
          retain: RetainSet | None = None) -> float:
    """One forward/backward over all rows in chunks (sampling first), then the retain set;
    the mean row loss."""
    params = dict(lm.model.named_parameters())
    if retain is not None:
        overrides = {n: w.to(params[n].dtype) for n, w in weights.items()}
        with phase("retain KL forward + backward"):
            (hp.retain_factor * retain_loss(lm, overrides, retain)).backward()
    expanded = [r for r in rows for _ in range(hp.samples)]
    total = 0.0
    for first in range(0, len(expanded), hp.batch_size * hp.samples):
        chunk = expanded[first : first + hp.batch_size * hp.samples]
        frozen = {n: w.detach().to(params[n].dtype) for n, w in weights.items()}
        with phase("sample x_c (with context)"):
            sampled, targets = sample_continuations(lm, frozen, [r.context.ids for r in chunk], hp.sample_tokens,
                                                    hp.temperature, generator)
        overrides = {n: w.to(params[n].dtype) for n, w in weights.items()}
        with phase("edit loss forward + backward"):
            loss = _chunk_loss(lm, overrides, chunk, sampled, targets, hp).sum() / len(expanded)
            loss.backward()
        total += float(loss.detach())
    return total
