"""What the trained editors (MEND, KE, InstructEdit) share: the checkpoint an edit reads,
the editor loaded from it, the delta it returns and the requests of a training step.

A subclass names its hyperparameter dataclass and supplies ``new_editor`` (a fresh
network for the model), ``optimizer``, ``edit_updates`` ({param: (left, right)} of an
edit, in the weight's storage layout) and ``train_step``; ``core.workflows.train``
trains any such method (``TRAINABLE_API`` there). ``compute`` reads the checkpoint
(``hp.checkpoint``, or the default path ``factsmith train`` writes for this model),
refuses one made for another model, and returns the update as low-rank factors, so
previews, verdicts, commits, patches and revert work as for any method; the model is
never written.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from pathlib import Path

from core.edit.deltas import Delta, LowRankUpdate
from core.facts.fact import Fact
from core.methods.base import EditError
from core.methods.editor_ckpt import (
    Checkpoint,
    CheckpointError,
    EditorRecord,
    default_checkpoint,
    read_checkpoint,
    recorded_hparams,
)
from core.methods.hparams import as_dict
from core.methods.presets import preset_values
from core.methods.training import param_names
from core.model.loading import LoadedModel
from core.util.atomic import file_sha256
from core.util.progress import Progress, silent


def last_layers(n_layers: int, count: int = 3) -> tuple[int, ...]:
    return tuple(range(max(0, n_layers - count), n_layers))


def edited_params(lm: LoadedModel, layers: Sequence[int]) -> tuple[list[str], list[tuple[int, int]]]:
    """The MLP output weights of ``layers`` (default: the last three) and their (d_in, d_out)."""
    params = param_names(lm, layers or last_layers(lm.info.layers), "mlp_out")
    named = dict(lm.model.named_parameters())
    shapes = []
    for p in params:
        rows, cols = named[p].shape
        shapes.append((rows, cols) if lm.spec.weight_layout == "in_out" else (cols, rows))
    return params, shapes


def sample_batch(facts: Sequence[Fact], step: int, size: int, seed: int) -> list[Fact]:
    """The requests of one training step: a function of (seed, step) alone, so a resumed
    run sees the same sequence."""
    rng = random.Random(seed * 1_000_003 + step)
    return rng.sample(list(facts), min(size, len(facts)))


def task_balanced_batch(facts: Sequence[Fact], step: int, size: int, seed: int) -> list[Fact]:
    """As ``sample_batch``, but each request's task (relation) drawn uniformly first among the
    tasks with requests left, so a task with few requests is trained on as often as a large one
    (seed 001's finding 3); the batch keeps its size."""
    rng = random.Random(seed * 1_000_003 + step)
    left: dict[str, list[Fact]] = {}
    for fact in facts:
        left.setdefault(fact.relation or "", []).append(fact)
    for requests in left.values():
        rng.shuffle(requests)
    batch: list[Fact] = []
    while len(batch) < min(size, len(facts)):
        task = rng.choice(sorted(t for t, requests in left.items() if requests))
        batch.append(left[task].pop())
    return batch


class TrainedEditorMethod:
    name: str
    hparams_class: type

    def preset(self, lm: LoadedModel):
        return self.hparams_class(**preset_values(self.name, lm))

    def statistics(self, lm: LoadedModel, hparams) -> tuple:
        return ()

    def hparams_of(self, record: EditorRecord):
        """The hyperparameters a checkpoint was trained with (JSON lists back to tuples);
        CheckpointError for a record this version cannot read (a newer one's, or damaged)."""
        return recorded_hparams(self.hparams_class, record)

    def load_editor(self, lm: LoadedModel, checkpoint: Checkpoint, state=None):
        """The trained editor of a checkpoint (its last state, or ``state``: ``checkpoint.editing`` to
        edit with), built with the hyperparameters it was trained with."""
        editor = self.new_editor(lm, self.hparams_of(checkpoint.record))
        try:
            editor.load_state_dict(dict(checkpoint.editor if state is None else state))
        except RuntimeError as exc:
            raise CheckpointError(f"the {self.name} checkpoint does not fit this model: {exc}") from exc
        return editor.eval()

    def batch(self, facts: Sequence[Fact], step: int, hp) -> list[Fact]:
        return sample_batch(facts, step, hp.edits_per_step, hp.seed)

    def compute(self, lm: LoadedModel, facts: Sequence[Fact], hparams=None,
                progress: Progress | None = None) -> Delta:
        """The edit of all facts by the trained editor; the model is left unchanged."""
        hp, progress = hparams or self.preset(lm), progress or silent()
        if not facts:
            raise EditError(f"{self.name}: no facts to edit")
        path = Path(hp.checkpoint) if hp.checkpoint else default_checkpoint(self.name, lm.info.fingerprint)
        editor, used = self.editor_at(lm, path)
        progress.check()
        delta = self.editor_delta(lm, editor, facts, hp, dict(used))
        progress.report(1, 1, f"{self.name}: edit computed")
        return delta

    def editor_at(self, lm: LoadedModel, path: Path) -> tuple:
        """(editor, {checkpoint path, step, sha256, fingerprint}) of the checkpoint at ``path``, read once
        per file version and device and kept in the model's memo (editing never changes it)."""
        if not path.is_file():
            read_checkpoint(path, self.name, lm.info.fingerprint)  # raises, saying how to train one
        stat = path.stat()
        key = ("trained-editor", self.name, str(path.resolve()), stat.st_mtime_ns, stat.st_size, str(lm.device))
        return lm.memo.get_or_make(key, lambda: self._read(lm, path))[:2]

    def _read(self, lm: LoadedModel, path: Path) -> tuple:
        checkpoint = read_checkpoint(path, self.name, lm.info.fingerprint)
        editor = self.load_editor(lm, checkpoint, checkpoint.editing)
        info = {"checkpoint": str(path), "checkpoint_step": checkpoint.record.editing_step,
                "checkpoint_sha256": file_sha256(path),
                "checkpoint_fingerprint": checkpoint.record.fingerprint}
        return editor, info, tuple(editor.state_dict().values())  # the tensors: the memo counts their bytes

    def editor_delta(self, lm: LoadedModel, editor, facts: Sequence[Fact], hp, info: dict | None = None) -> Delta:
        """The edit ``editor`` makes for ``facts`` (one gradient of their joint loss)."""
        import torch

        try:
            with torch.no_grad():
                parts, extra = self.edit_updates(lm, editor, facts, hp)
        except (RuntimeError, ValueError) as exc:
            raise EditError(f"{self.name} failed: {exc}") from exc
        scale = getattr(hp, "edit_scale", 1.0)  # an edit-time step on the trained update (the presets')
        if not (isinstance(scale, int | float) and math.isfinite(scale) and scale > 0):  # a negative one reverses it
            raise EditError(f"{self.name}: edit_scale must be a positive number, not {scale!r}")
        updates = tuple(LowRankUpdate(p, (left * scale if scale != 1.0 else left).detach().cpu(),
                                      right.detach().cpu())
                        for p, (left, right) in sorted(parts.items()))
        info = {**(info or {}), **extra, "params": [u.param for u in updates]}
        return Delta(self.name, updates, tuple(f.id for f in facts), as_dict(hp), info)
