"""FT-L and FT-M: constrained fine-tuning of chosen MLP weights (methods.md §3).

Both train float32 copies of the chosen matrices (``spec.mlp_out_weight(layer)`` by
default) with Adam and run the model through ``torch.func.functional_call``, so the
model's own tensors are never written and half-precision weights still get exact Adam
updates. The result is a dense delta W_final − W0 of the touched matrices only.

- FT-L: the distribution at the last prompt position is pushed towards every target
  token (mean NLL); after each step the weights are clamped into W0 ± ε (L∞ box).
- FT-M: ordinary cross-entropy on the target tokens of prompt + " " + target with the
  prompt positions masked; a box is applied only if ``norm_constraint`` is set.
All facts are edited jointly: each step averages the per-fact losses.

Presets (``preset(lm)``), by parameter count:

| size        | layers (fraction of depth)     | lr    | steps | ε (FT-L) | source            |
|-------------|--------------------------------|-------|-------|----------|-------------------|
| >= 1B       | MEMIT's window per family      | 5e-4  | 25    | 5e-4     | reference (ICE)   |
| 50M - 1B    | MEMIT's window per family      | 5e-4  | 25    | 5e-4     | reference, untuned|
| < 50M       | see SMALL_* below              | tuned | tuned | tuned    | demo dev split    |

MEMIT windows: GPT-2 XL 13-17 of 48, GPT-J 3-8 of 28, Llama 4-8 of 32, kept as
fractions of depth for other sizes. methods.md §5: the reference values do nothing on
a 6-layer model, so small models get values tuned on the demo model's dev_edits.jsonl.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from core.deltas import Delta, DenseUpdate, weights_restored
from core.facts import Fact
from core.loading import LoadedModel
from core.methods.base import EditError
from core.methods.hparams import as_dict
from core.metrics.tokens import EncodedPair, encode_pair, pad_id, right_padded
from core.progress import Cancelled, Progress, silent

log = logging.getLogger(__name__)

MODULES = ("mlp_out", "mlp_in")
OBJECTIVES = ("prompt_last", "target_masked")
SMALL_MODEL_PARAMS = 50_000_000
LARGE_MODEL_PARAMS = 1_000_000_000

# (first, last) edited layer as fractions of depth, from MEMIT's per-family choices
_WINDOWS = {"gpt2": (13 / 48, 17 / 48), "gpt-neo": (13 / 48, 17 / 48), "gpt-j": (3 / 28, 8 / 28)}
_DEFAULT_WINDOW = (4 / 32, 8 / 32)  # Llama's; NeoX, Mistral, Qwen2 share the layout
SMALL_WINDOW = (0.0, 0.5)  # tuned on the demo dev split
SMALL_FT_L = dict(lr=1e-2, steps=25, norm_constraint=2e-2)
SMALL_FT_M = dict(lr=1e-2, steps=25, norm_constraint=None)


@dataclass(frozen=True)
class FTHyperParams:
    layers: tuple[int, ...]
    module: str = "mlp_out"  # mlp_out: the down projection ROME edits; mlp_in: the up projection
    lr: float = 5e-4
    steps: int = 25
    weight_decay: float = 0.0
    norm_constraint: float | None = None  # ε: keep every weight within W0 ± ε; None: no box
    batch_size: int = 16  # facts per forward pass; gradients accumulate over chunks


def layer_window(n_layers: int, window: tuple[float, float]) -> tuple[int, ...]:
    first = min(n_layers - 1, round(window[0] * n_layers))
    last = min(n_layers - 1, max(first, round(window[1] * n_layers)))
    return tuple(range(first, last + 1))


def _param_names(lm: LoadedModel, hp: FTHyperParams) -> list[str]:
    if hp.module not in MODULES:
        raise EditError(f"module {hp.module!r} is not one of {', '.join(MODULES)}")
    if not hp.layers:
        raise EditError("no layers chosen to fine-tune")
    bad = [i for i in hp.layers if not 0 <= i < lm.info.layers]
    if bad:
        raise EditError(f"layers {bad} do not exist; the model has layers 0-{lm.info.layers - 1}")
    relative = lm.spec.mlp_out if hp.module == "mlp_out" else lm.spec.mlp_in
    return [f"{lm.spec.layer(i)}.{relative}.weight" for i in sorted(set(hp.layers))]


def _row_losses(logits, encoded: Sequence[EncodedPair], objective: str):
    """Mean target NLL per fact, read from right-padded logits."""
    import torch

    losses = []
    for row, pair in enumerate(encoded):
        start, targets = len(pair.prompt_ids), torch.tensor(pair.target_ids, device=logits.device)
        if objective == "prompt_last":  # one distribution must put mass on every target token
            logp = logits[row, start - 1].float().log_softmax(-1)[targets]
        else:  # teacher-forced: position p predicts token p + 1; prompt positions masked
            span = logits[row, start - 1 : start + len(targets) - 1].float().log_softmax(-1)
            logp = span.gather(1, targets[:, None])[:, 0]
        losses.append(-logp.mean())
    return torch.stack(losses)


def _step_loss(lm: LoadedModel, weights: dict, encoded: Sequence[EncodedPair], hp: FTHyperParams,
               objective: str) -> float:
    """Forward and backward over all facts in chunks; returns the mean per-fact loss."""
    from torch.func import functional_call

    params = dict(lm.model.named_parameters())
    total = 0.0
    for first in range(0, len(encoded), hp.batch_size):
        chunk = encoded[first : first + hp.batch_size]
        # cast per chunk: backward frees the graph of the previous cast
        overrides = {name: w.to(params[name].dtype) for name, w in weights.items()}
        sequences = [p.prompt_ids if objective == "prompt_last" else p.ids for p in chunk]
        ids, mask = right_padded(sequences, pad_id(lm.tokenizer), lm.device)
        logits = functional_call(lm.model, overrides, args=(), kwargs={"input_ids": ids, "attention_mask": mask}).logits
        loss = _row_losses(logits, chunk, objective).sum() / len(encoded)
        loss.backward()
        total += float(loss.detach())
    return total


def _clamp(weights: dict, originals: dict, eps: float) -> None:
    import torch

    with torch.no_grad():
        for name, w in weights.items():
            w.copy_(torch.clamp(w, originals[name] - eps, originals[name] + eps))


@dataclass(frozen=True)
class FineTune:
    """FT-L (objective ``prompt_last``) or FT-M (``target_masked``)."""

    name: str
    objective: str
    hparams_class: type = FTHyperParams

    def preset(self, lm: LoadedModel) -> FTHyperParams:
        if lm.info.parameters < SMALL_MODEL_PARAMS:
            values = SMALL_FT_L if self.objective == "prompt_last" else SMALL_FT_M
            return FTHyperParams(layers=layer_window(lm.info.layers, SMALL_WINDOW), **values)
        window = _WINDOWS.get(lm.spec.family, _DEFAULT_WINDOW)
        eps = 5e-4 if self.objective == "prompt_last" else None
        return FTHyperParams(layers=layer_window(lm.info.layers, window), lr=5e-4, steps=25, norm_constraint=eps)

    def _train(self, lm: LoadedModel, names: list[str], encoded: list[EncodedPair], hp: FTHyperParams,
               progress: Progress) -> tuple[dict, list[float]]:
        import torch

        params = dict(lm.model.named_parameters())
        originals = {n: params[n].detach().to(torch.float32, copy=True) for n in names}
        weights = {n: w.clone().requires_grad_(True) for n, w in originals.items()}
        optimizer = torch.optim.Adam(list(weights.values()), lr=hp.lr, weight_decay=hp.weight_decay)
        losses: list[float] = []
        for step in range(hp.steps):
            progress.check()
            optimizer.zero_grad(set_to_none=True)
            losses.append(_step_loss(lm, weights, encoded, hp, self.objective))
            optimizer.step()
            if hp.norm_constraint is not None:
                _clamp(weights, originals, hp.norm_constraint)
            progress.report(step + 1, hp.steps, f"{self.name} step {step + 1}/{hp.steps}", loss=losses[-1])
        return {n: w.detach() for n, w in weights.items()}, losses

    def _diffs(self, lm: LoadedModel, trained: dict) -> tuple[DenseUpdate, ...]:
        """W_final − W0 in float32, W_final rounded to the parameter's own dtype first."""
        params = dict(lm.model.named_parameters())
        return tuple(
            DenseUpdate(n, (w.to(params[n].dtype).float() - params[n].detach().float()).cpu())
            for n, w in trained.items()
        )

    def compute(self, lm: LoadedModel, facts: Sequence[Fact], hparams: FTHyperParams,
                progress: Progress | None = None) -> Delta:
        """The joint edit of all facts; the model is left bit-identical, also on error."""
        progress = progress or silent()
        if not facts:
            raise EditError(f"{self.name}: no facts to edit")
        if hparams.steps < 1 or hparams.lr <= 0 or hparams.batch_size < 1:
            raise EditError(f"{self.name}: steps, lr and batch_size must be positive")
        names = _param_names(lm, hparams)
        started = time.perf_counter()
        try:
            encoded = [encode_pair(lm.tokenizer, f.prompt, f.target_new) for f in facts]
            with weights_restored(lm.model, names):  # functional_call never writes; this guards it
                trained, losses = self._train(lm, names, encoded, hparams, progress)
            updates = self._diffs(lm, trained)
        except (Cancelled, EditError):
            raise
        except (RuntimeError, ValueError) as exc:
            raise EditError(f"{self.name} failed: {exc}") from exc
        seconds = time.perf_counter() - started
        log.info("%s: %d fact(s), loss %.4f -> %.4f in %.1fs", self.name, len(facts), losses[0], losses[-1], seconds)
        info = {"losses": [round(x, 6) for x in losses], "seconds": round(seconds, 3), "params": names}
        return Delta(self.name, updates, tuple(f.id for f in facts), as_dict(hparams), info)


FT_L = FineTune("ft-l", "prompt_last")
FT_M = FineTune("ft-m", "target_masked")
