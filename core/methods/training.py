"""The fine-tuning loop FT-L, FT-M and ICE share.

Float32 copies of the chosen matrices are trained with Adam and the model runs through
``torch.func.functional_call``, so the model's own tensors are never written and
half-precision weights still get exact Adam updates. The result is the dense
difference W_final − W0 of the touched matrices only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from core.edit.deltas import DenseUpdate, weights_restored
from core.methods.base import EditError
from core.model.loading import LoadedModel
from core.model.tokens import EncodedPair, model_batch
from core.util.progress import Cancelled, Progress
from core.util.timing import phase

log = logging.getLogger(__name__)

MODULES = ("mlp_out", "mlp_in")

StepLoss = Callable[[dict], float]  # forward + backward over all facts with these weights; the mean loss


class TrainSettings(Protocol):
    """The hyperparameters of the loop itself (FT's and ICE's dataclasses both carry them)."""

    lr: float
    steps: int
    weight_decay: float
    norm_constraint: float | None
    loss_threshold: float  # stop once the mean loss is below it (0: run every step)


@dataclass(frozen=True)
class Trained:
    updates: tuple[DenseUpdate, ...]
    losses: tuple[float, ...]
    seconds: float


def param_names(lm: LoadedModel, layers: Sequence[int], module: str) -> list[str]:
    """The weight names of ``module`` ("mlp_out" or "mlp_in") in each layer; EditError if unusable."""
    if module not in MODULES:
        raise EditError(f"module {module!r} is not one of {', '.join(MODULES)}")
    if not layers:
        raise EditError("no layers chosen to fine-tune")
    bad = [i for i in layers if not 0 <= i < lm.info.layers]
    if bad:
        raise EditError(f"layers {bad} do not exist; the model has layers 0-{lm.info.layers - 1}")
    relative = lm.spec.mlp_out if module == "mlp_out" else lm.spec.mlp_in
    return [f"{lm.spec.layer(i)}.{relative}.weight" for i in sorted(set(layers))]


def forward_with(lm: LoadedModel, overrides: dict, sequences: Sequence[Sequence[int]]):
    """Logits of right-padded sequences with some weights replaced (the model untouched)."""
    from torch.func import functional_call

    ids, mask = model_batch(lm, sequences)
    return functional_call(lm.model, overrides, args=(), kwargs={"input_ids": ids, "attention_mask": mask}).logits


def row_losses(logits, encoded: Sequence[EncodedPair], objective: str):
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


def trained_delta(name: str, lm: LoadedModel, names: list[str], prepare: Callable[[], StepLoss],
                  settings: TrainSettings, progress: Progress) -> Trained:
    """Train copies of ``names`` with the step ``prepare()`` returns; the model is left
    bit-identical, also on error. Encoding and training errors become EditError."""
    started = time.perf_counter()
    try:
        step_loss = prepare()
        with weights_restored(lm.model, names):  # functional_call never writes; this guards it
            trained, losses = _train(lm, names, step_loss, settings, progress, name)
        updates = dense_diffs(lm, trained)
    except (Cancelled, EditError):
        raise
    except (RuntimeError, ValueError) as exc:
        raise EditError(f"{name} failed: {exc}") from exc
    seconds = time.perf_counter() - started
    log.info("%s: loss %.4f -> %.4f in %.1fs", name, losses[0], losses[-1], seconds)
    return Trained(updates, tuple(losses), seconds)


def _train(lm: LoadedModel, names: list[str], step_loss: StepLoss, settings: TrainSettings, progress: Progress,
           label: str) -> tuple[dict, list[float]]:
    import torch

    params = dict(lm.model.named_parameters())
    originals = {n: params[n].detach().to(torch.float32, copy=True) for n in names}
    weights = {n: w.clone().requires_grad_(True) for n, w in originals.items()}
    optimizer = torch.optim.Adam(list(weights.values()), lr=settings.lr, weight_decay=settings.weight_decay)
    losses: list[float] = []
    for step in range(settings.steps):
        progress.check()
        optimizer.zero_grad(set_to_none=True)
        with phase("step"):
            losses.append(step_loss(weights))
        if losses[-1] < settings.loss_threshold:  # the weights already say the target: more steps spread the edit
            progress.report(settings.steps, settings.steps, f"{label} stopped at step {step + 1}: loss "
                            f"{losses[-1]:.3f} < {settings.loss_threshold}", loss=losses[-1])
            break
        with phase("step: Adam + clamp"):
            optimizer.step()
            if settings.norm_constraint is not None:
                _clamp(weights, originals, settings.norm_constraint)
        progress.report(step + 1, settings.steps, f"{label} step {step + 1}/{settings.steps}", loss=losses[-1])
    return {n: w.detach() for n, w in weights.items()}, losses


def _clamp(weights: dict, originals: dict, eps: float) -> None:
    """Keep every weight within W0 ± ε (an L∞ box)."""
    import torch

    with torch.no_grad():
        for name, w in weights.items():
            w.copy_(torch.clamp(w, originals[name] - eps, originals[name] + eps))


def dense_diffs(lm: LoadedModel, trained: dict) -> tuple[DenseUpdate, ...]:
    """W_final − W0 in float32, W_final rounded to the parameter's own dtype first."""
    params = dict(lm.model.named_parameters())
    return tuple(DenseUpdate(n, (w.to(params[n].dtype).float() - params[n].detach().float()).cpu())
                 for n, w in trained.items())
