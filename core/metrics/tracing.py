"""Causal tracing (ROME §2; methods.md "Causal tracing"): where a model recalls a fact.

The prompt runs clean once; then with Gaussian noise (std ``noise_factor`` × the std of
the input embedding matrix's entries, ``samples`` seeded draws) added to the subject tokens' input
embeddings. For each (layer, token) the clean value of one thing is put back into the
corrupted run and P(answer's first token) is measured, averaged over the draws:

- ``state``: the block's output (the residual stream after layer l) at that token;
- ``mlp``: the MLP outputs of a window of layers centred on l, at that token (ROME's
  window of 10 on its 28-48-layer models; here a fifth of the depth, 1 to 10 layers:
  ``default_window``).

The indirect effect of a cell is its restored probability minus the corrupted one. The
chosen layer is the argmax of the MLP effect at the subject's last token: where ROME
edits. The answer traced is the fact's ``target_true`` when given, else the model's own
greedy next token. When the clean P(``target_true``) is below ``MIN_CLEAN_P`` (an edited
fact: the model no longer says its old answer) there is nothing to restore, so the model's
own top answer is traced instead and ``replaced_answer`` names the one asked for. A trace
whose clean P(answer) is below ``MIN_CLEAN_P`` or whose chosen effect is below
``MIN_EFFECT`` is not ``meaningful``: it chooses no layer (``layer`` is None).
The noise is the same for every cell, so restoring the last layer at
the last token gives back the clean probability exactly.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from core.edit.hooks import capture_many, get_module
from core.edit.patching import Patch, noise_added, outputs_replaced
from core.facts.fact import Fact
from core.methods.keys import subject_prompt, target_ids
from core.metrics.trace_plan import Cell, cells_for, window_layers
from core.model.loading import LoadedModel
from core.model.tokens import encode
from core.util.progress import Progress, silent

__all__ = ["KINDS", "MIN_CLEAN_P", "MIN_EFFECT", "Cell", "TraceOptions", "TraceResult", "default_window",
           "trace_fact", "trace_facts", "window_layers"]

log = logging.getLogger(__name__)

KINDS = ("state", "mlp")
MIN_CLEAN_P = 0.05  # below this clean P(answer) a trace measures noise: the top answer is traced instead
MIN_EFFECT = 0.05  # below this indirect effect (in probability) a trace picks no layer


@dataclass(frozen=True)
class TraceOptions:
    samples: int = 10  # noise draws averaged per cell, run in one batch
    noise_factor: float = 3.0  # noise std = factor × std of the input embedding matrix
    window: int | None = None  # MLP window; None: default_window(layers)
    kinds: tuple[str, ...] = KINDS
    seed: int = 0
    batch_rows: int = 256  # sequences per forward pass

    def __post_init__(self) -> None:
        unknown = [k for k in self.kinds if k not in KINDS]
        if unknown or not self.kinds:
            raise ValueError(f"trace kinds must be among {', '.join(KINDS)}; got {list(self.kinds)}")
        if self.samples < 1:
            raise ValueError(f"samples must be at least 1, got {self.samples}")
        if self.window is not None and self.window < 1:
            raise ValueError(f"the MLP window must be at least 1 layer, got {self.window}")


def default_window(n_layers: int) -> int:
    """A fifth of the depth, 1 to 10 layers: 10 on GPT-2 XL (48 layers, ROME's), 1 on the demo model.

    On the demo model (6 layers) a window of 3 lets neighbouring layers share the restored
    MLPs, so layers 0 and 1 tie and the argmax picks either; ROME edits at layer 1 then lose
    reliability (bench/trace_layers.py: 0.58 against 0.93 at the traced layer with window 1).
    """
    return max(1, min(10, round(n_layers / 5)))


@dataclass(frozen=True)
class TraceResult:
    """One fact's trace. ``scores[kind][layer][token]`` is P(answer) with that cell restored."""

    prompt: str
    subject: str
    answer: str
    answer_id: int
    tokens: tuple[str, ...]
    subject_range: tuple[int, int]  # token positions [start, end)
    n_layers: int
    clean_p: float
    corrupted_p: float
    scores: dict[str, tuple[tuple[float, ...], ...]] = field(hash=False)
    chosen_layer: int
    chosen_kind: str  # the kind the chosen layer was read from: mlp when traced, else state
    window: int
    noise_std: float
    samples: int
    replaced_answer: str = ""  # the fact's answer, when its clean P was too small and the top answer was traced
    replaced_p: float = 0.0  # its clean P

    @property
    def meaningful(self) -> bool:
        """Whether the trace says where the model recalls its answer (see the module doc)."""
        return self.clean_p >= MIN_CLEAN_P and self.chosen_effect >= MIN_EFFECT

    @property
    def layer(self) -> int | None:
        """The chosen layer when the trace is meaningful, else None."""
        return self.chosen_layer if self.meaningful else None

    @property
    def subject_last(self) -> int:
        return self.subject_range[1] - 1

    @property
    def chosen_effect(self) -> float:
        """The indirect effect at the chosen layer and the subject's last token."""
        return self.scores[self.chosen_kind][self.chosen_layer][self.subject_last] - self.corrupted_p

    def effect(self, kind: str) -> tuple[tuple[float, ...], ...]:
        """The indirect effect: restored P(answer) minus the corrupted one."""
        return tuple(tuple(p - self.corrupted_p for p in row) for row in self.scores[kind])

    def top_layers(self, kind: str, count: int = 3) -> list[tuple[int, float]]:
        """The layers with the largest effect at the subject's last token, best first."""
        column = [(layer, row[self.subject_last]) for layer, row in enumerate(self.effect(kind))]
        return sorted(column, key=lambda pair: -pair[1])[:count]

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt, "subject": self.subject, "answer": self.answer, "answer_id": self.answer_id,
            "tokens": list(self.tokens), "subject_range": list(self.subject_range), "layers": self.n_layers,
            "clean_p": self.clean_p, "corrupted_p": self.corrupted_p, "chosen_layer": self.chosen_layer,
            "chosen_kind": self.chosen_kind, "chosen_effect": self.chosen_effect, "window": self.window,
            "noise_std": self.noise_std, "samples": self.samples, "meaningful": self.meaningful,
            "replaced_answer": self.replaced_answer, "replaced_p": self.replaced_p,
            "scores": {k: [list(r) for r in v] for k, v in self.scores.items()},
        }


@dataclass(frozen=True)
class _Prompt:
    ids: tuple[int, ...]
    subject_range: tuple[int, int]
    answer_id: int


def trace_facts(lm: LoadedModel, facts: Sequence[Fact], options: TraceOptions | None = None,
                progress: Progress | None = None) -> list[TraceResult]:
    progress = progress or silent()
    results = []
    for i, fact in enumerate(facts):
        results.append(trace_fact(lm, fact, options, progress.stage(i / len(facts), (i + 1) / len(facts))))
    return results


def trace_fact(lm: LoadedModel, fact: Fact, options: TraceOptions | None = None,
               progress: Progress | None = None) -> TraceResult:
    """Trace one fact's prompt (see the module doc); the model is left as it was."""
    import torch

    options, progress = options or TraceOptions(), progress or silent()
    n_layers, window = lm.info.layers, options.window or default_window(lm.info.layers)
    with torch.no_grad():
        clean_logits, clean = _clean_run(lm, fact)
        prompt = _locate(lm, fact, clean_logits)
        probs = torch.softmax(clean_logits.float(), -1)
        replaced, replaced_p = "", 0.0
        if float(probs[prompt.answer_id]) < MIN_CLEAN_P and prompt.answer_id != int(clean_logits.argmax()):
            replaced, replaced_p = lm.tokenizer.decode([prompt.answer_id]), float(probs[prompt.answer_id])
            log.info("trace of %r: P(%r) = %.3g < %s, tracing the top answer", fact.prompt, replaced, replaced_p,
                     MIN_CLEAN_P)
            prompt = _Prompt(prompt.ids, prompt.subject_range, int(clean_logits.argmax()))
        embeddings = get_module(lm.model, lm.spec.embeddings).weight
        noise_std = options.noise_factor * _rows_std(embeddings)
        noise = _noise(prompt, noise_std, embeddings.shape[1], options)
        corrupted_p = _score_cells(lm, prompt, [Cell(())], clean, noise, options)[0]
        scores = _all_scores(lm, prompt, clean, noise, options, progress, window)
    chosen_kind = "mlp" if "mlp" in scores else "state"
    column = [row[prompt.subject_range[1] - 1] for row in scores[chosen_kind]]
    tokens = tuple(lm.tokenizer.decode([t]) for t in prompt.ids)
    return TraceResult(fact.prompt, fact.subject, lm.tokenizer.decode([prompt.answer_id]), prompt.answer_id,
                       tokens, prompt.subject_range, n_layers, float(probs[prompt.answer_id]), corrupted_p, scores,
                       column.index(max(column)), chosen_kind, window, noise_std, options.samples,
                       replaced, replaced_p)


def _all_scores(lm: LoadedModel, prompt: _Prompt, clean: dict, noise, options: TraceOptions, progress: Progress,
                window: int) -> dict[str, tuple[tuple[float, ...], ...]]:
    scores = {}
    for i, kind in enumerate(options.kinds):
        cells = cells_for(lm.spec, kind, lm.info.layers, len(prompt.ids), window)
        stage = progress.stage(i / len(options.kinds), (i + 1) / len(options.kinds))
        flat = _score_cells(lm, prompt, cells, clean, noise, options, stage, kind)
        scores[kind] = tuple(tuple(flat[row * len(prompt.ids):(row + 1) * len(prompt.ids)])
                             for row in range(lm.info.layers))
    return scores


def _rows_std(weight, rows: int = 4096) -> float:
    """The std of the embedding matrix's entries, over at most ``rows`` evenly spaced rows
    (a 128k-token vocabulary need not be copied to float32 whole)."""
    step = max(1, weight.shape[0] // rows)
    return float(weight[::step].float().std())


def _locate(lm: LoadedModel, fact: Fact, clean_logits) -> _Prompt:
    """The prompt's ids, its subject's token range and the answer's first token."""
    located = subject_prompt(lm.tokenizer, fact.prompt, fact.subject)
    head = encode(lm.tokenizer, fact.prompt[: fact.prompt.find(fact.subject)])
    first = 0
    while first < min(len(head), located.subject_last) and head[first] == located.ids[first]:
        first += 1
    if fact.target_true:
        answer = target_ids(lm.tokenizer, fact.prompt, fact.target_true)[0]
    else:
        answer = int(clean_logits.argmax())
    return _Prompt(located.ids, (first, located.subject_last + 1), answer)


def _clean_run(lm: LoadedModel, fact: Fact):
    """(next-token logits after the prompt, {module: output (tokens, hidden)}) of the clean run."""
    import torch

    ids = encode(lm.tokenizer, fact.prompt)
    names = [lm.spec.layer(i) for i in range(lm.info.layers)] + \
            [lm.spec.mlp_module(i) for i in range(lm.info.layers)]
    batch = torch.tensor([ids], device=lm.device)
    with capture_many(lm.model, names, inputs=False) as seen:
        logits = lm.model(input_ids=batch, attention_mask=torch.ones_like(batch), use_cache=False).logits[0, -1]
    return logits, {name: seen[name].output[0].detach() for name in names}


def _noise(prompt: _Prompt, std: float, hidden: int, options: TraceOptions):
    import torch

    generator = torch.Generator().manual_seed(options.seed)
    width = prompt.subject_range[1] - prompt.subject_range[0]
    return torch.randn((options.samples, width, hidden), generator=generator) * std


def _score_cells(lm: LoadedModel, prompt: _Prompt, cells: Sequence[Cell], clean: dict, noise, options: TraceOptions,
                 progress: Progress | None = None, kind: str = "") -> list[float]:
    """Mean P(answer) over the noise draws with each cell's restorations, in batches."""
    progress = progress or silent()
    per_batch = max(1, options.batch_rows // options.samples)
    scores: list[float] = []
    for start in range(0, len(cells), per_batch):
        progress.check()
        scores += _score_batch(lm, prompt, cells[start:start + per_batch], clean, noise)
        done = min(len(cells), start + per_batch)
        progress.report(done, len(cells), f"tracing {kind}: {done}/{len(cells)} restorations")
    return scores


def _score_batch(lm: LoadedModel, prompt: _Prompt, cells: Sequence[Cell], clean: dict, noise) -> list[float]:
    import torch

    samples = noise.shape[0]
    ids = torch.tensor([prompt.ids] * (samples * len(cells)), device=lm.device)
    subject = list(range(*prompt.subject_range))
    tiled = noise.repeat(len(cells), 1, 1)
    with noise_added(lm.model, lm.spec.embeddings, tiled, subject), \
            outputs_replaced(lm.model, _patches(cells, samples, clean)):
        logits = lm.model(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=False).logits[:, -1].float()
    probs = torch.softmax(logits, -1)[:, prompt.answer_id].view(len(cells), samples)
    return [float(p) for p in probs.mean(dim=1)]


def _patches(cells: Sequence[Cell], samples: int, clean: dict) -> dict[str, Patch]:
    """{module: Patch}: row block i (its ``samples`` rows) takes cell i's clean values."""
    import torch

    by_module: dict[str, tuple[list[int], list[int]]] = {}
    for i, cell in enumerate(cells):
        for name, position in cell.restore:
            rows, positions = by_module.setdefault(name, ([], []))
            rows += range(i * samples, (i + 1) * samples)
            positions += [position] * samples
    return {name: Patch(tuple(rows), tuple(positions), torch.stack([clean[name][p] for p in positions]))
            for name, (rows, positions) in by_module.items()}
