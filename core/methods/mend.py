"""MEND: model editor networks with gradient decomposition (Mitchell et al., ICLR 2022;
methods.md §3).

An edit is one forward and backward pass of the fine-tuning loss (teacher-forced NLL of
``target_new`` after the prompt) on the unedited model, capturing per edited MLP output
matrix (``spec.mlp_out``, by default the last three blocks, as the paper) the rank-one
gradient factors u (the matrix's input) and δ (the gradient at its output) of every
target token; a trained network (``core.methods.mend_net``) transforms them and the
update is ΔW = −α_l Σ_i δ̃_i ũ_iᵀ, returned as an ordinary low-rank ``Delta`` (rank =
target tokens), so previews, verdicts, commits, patches and revert work unchanged. The
model is left bit-identical.

The network is trained beforehand for the model (``factsmith train --method mend``,
``core.workflows.train``): for an edit request, the update computed from its prompt
must make the new answer likely on the prompt and its paraphrases (the edit loss, a
mean NLL weighted ``c_edit``) while keeping the next-token distributions of its locality
prompts (KL(p_before ‖ p_after) over the answer tokens, weighted ``c_loc``). Adam trains
the network (``lr``) and the per-layer steps α (``lr_lr``), as in the paper.

``checkpoint`` names the trained editor (empty: the default path ``factsmith train``
writes for this model, ``core.methods.editor_ckpt.default_checkpoint``); the record's
fingerprint must match the loaded model's. The editor's layers and rank come from the
checkpoint, not from these hyperparameters, once it is trained.

Presets (``core.methods.presets``): the paper's values for large models; for small ones
(< 100M) rank 64, Adam 1e-3 for the network and for α (α starts at 1e-3), 4 requests per
step and c_edit 1.0. Demo model, trained on ``editor_train.jsonl`` (1,559 requests, subjects
0-b), validated on the first 20 of ``quality_dev.jsonl`` (teacher-forced single edits):

| setting (300 steps)                         | rel   | gen   | loc   |
|---------------------------------------------|-------|-------|-------|
| c_edit 0.1 (the paper's), last three blocks | 0.663 | 0.684 | 0.966 |
| c_edit 1.0, blocks 0-2                      | 0.605 | 0.574 | 0.910 |
| c_edit 1.0, last three blocks (preset)      | 0.918 | 0.884 | 0.914 |

With the preset, on the held-out test split (``bench/quality.py --split test --methods mend
--set mend.checkpoint=PATH``, 40 single edits, subjects c-f, teacher-forced):

| training (``factsmith train --steps N``) | rel   | gen   | loc   | rel, other kind | s/edit |
|------------------------------------------|-------|-------|-------|-----------------|--------|
| 300 steps (87 s CPU time, 470 MB peak)   | 0.864 | 0.876 | 0.937 | 0.794           | 0.05   |
| 600 steps (174 s CPU time)               | 0.905 | 0.910 | 0.939 | 0.878           | 0.03   |
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core.edit.deltas import Delta, LowRankUpdate
from core.facts.fact import Fact
from core.methods.base import EditError
from core.methods.editor_ckpt import Checkpoint, CheckpointError, default_checkpoint, read_checkpoint
from core.methods.hparams import as_dict
from core.methods.presets import preset_values
from core.methods.training import param_names
from core.model.loading import LoadedModel
from core.model.tokens import EncodedPair, encode_pair
from core.util.progress import Progress, silent


@dataclass(frozen=True)
class MENDHParams:
    layers: tuple[int, ...] = ()  # (): the last three blocks
    checkpoint: str = ""  # the trained editor; "": the default path for this model
    rank: int = 1920  # the network's hidden width (paper: 1920)
    edit_lr: float = 1e-4  # α's initial value per layer (paper: 1e-4)
    lr: float = 1e-6  # Adam's rate for the network (paper: 1e-6)
    lr_lr: float = 1e-4  # Adam's rate for α (paper: 1e-4)
    c_edit: float = 0.1  # weight of the edit loss (paper: 0.1)
    c_loc: float = 1.0  # weight of the locality KL (paper: 1.0)
    edits_per_step: int = 10  # edit requests per training step, each edited on its own (paper: batch 10)
    max_paraphrases: int = 3  # paraphrases in each request's edit loss
    max_locality: int = 4  # locality prompts in each request's KL
    seed: int = 0


def last_layers(n_layers: int, count: int = 3) -> tuple[int, ...]:
    return tuple(range(max(0, n_layers - count), n_layers))


def _modules(lm: LoadedModel, layers: Sequence[int]) -> tuple[list[str], list[str]]:
    params = param_names(lm, layers, "mlp_out")
    return [p.removesuffix(".weight") for p in params], params


class MendMethod:
    name = "mend"
    hparams_class = MENDHParams

    def preset(self, lm: LoadedModel) -> MENDHParams:
        return MENDHParams(**preset_values(self.name, lm))

    def statistics(self, lm: LoadedModel, hparams: MENDHParams) -> tuple:
        return ()

    # --- the editor network -------------------------------------------------------

    def new_editor(self, lm: LoadedModel, hp: MENDHParams):
        from core.methods.mend_net import MendEditor

        layers = hp.layers or last_layers(lm.info.layers)
        _, params = _modules(lm, layers)
        named = dict(lm.model.named_parameters())
        shapes = []
        for p in params:
            rows, cols = named[p].shape
            shapes.append((rows, cols) if lm.spec.weight_layout == "in_out" else (cols, rows))  # (d_in, d_out)
        return MendEditor(params, shapes, hp.rank, hp.edit_lr).to(lm.device)

    def optimizer(self, editor, hp: MENDHParams):
        import torch

        rest = [p for n, p in editor.named_parameters() if n != "lrs"]
        return torch.optim.Adam([{"params": rest, "lr": hp.lr}, {"params": [editor.lrs], "lr": hp.lr_lr}])

    def load_editor(self, lm: LoadedModel, checkpoint: Checkpoint):
        """The trained editor of a checkpoint, built with the hyperparameters it was trained with."""
        hp = MENDHParams(**{k: tuple(v) if isinstance(v, list) else v for k, v in checkpoint.record.hparams.items()})
        editor = self.new_editor(lm, hp)
        try:
            editor.load_state_dict(dict(checkpoint.editor))
        except RuntimeError as exc:
            raise CheckpointError(f"the {self.name} checkpoint does not fit this model: {exc}") from exc
        return editor.eval()

    # --- edits --------------------------------------------------------------------

    def updates(self, lm: LoadedModel, editor, encoded: Sequence[EncodedPair], observe: bool = False) -> dict:
        """{param: (left, right)} of the edit of ``encoded`` (differentiable in the editor)."""
        from core.methods.mend_net import editor_updates

        return editor_updates(lm, editor, encoded, observe)

    def compute(self, lm: LoadedModel, facts: Sequence[Fact], hparams: MENDHParams | None = None,
                progress: Progress | None = None) -> Delta:
        """The edit of all facts (one gradient of their joint loss); the model is left unchanged."""
        hp, progress = hparams or self.preset(lm), progress or silent()
        if not facts:
            raise EditError("mend: no facts to edit")
        path = Path(hp.checkpoint) if hp.checkpoint else default_checkpoint(self.name, lm.info.fingerprint)
        editor, used = self._editor_at(lm, path)
        progress.check()
        delta = self.editor_delta(lm, editor, facts, hp, dict(used))
        progress.report(1, 1, "mend: edit computed")
        return delta

    def _editor_at(self, lm: LoadedModel, path: Path) -> tuple:
        """(editor, {checkpoint path, step, sha256, fingerprint}) of the checkpoint at ``path``, read once per file
        version, model and device (editing does not change an editor)."""
        stat = path.stat() if path.is_file() else None
        key = (str(path.resolve()), stat and (stat.st_mtime_ns, stat.st_size), lm.info.fingerprint, str(lm.device))
        if stat is None or key not in _EDITORS:
            checkpoint = read_checkpoint(path, self.name, lm.info.fingerprint)  # refuses a missing file
            _EDITORS.clear()  # one editor at a time: they are small, but models may be large
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            _EDITORS[key] = (self.load_editor(lm, checkpoint), {
                "checkpoint": str(path), "checkpoint_step": checkpoint.record.step, "checkpoint_sha256": digest,
                "checkpoint_fingerprint": checkpoint.record.fingerprint})
        return _EDITORS[key]

    def editor_delta(self, lm: LoadedModel, editor, facts: Sequence[Fact], hp: MENDHParams,
                     info: dict | None = None) -> Delta:
        """The edit ``editor`` makes for ``facts`` (one gradient of their joint loss)."""
        import torch

        try:
            encoded = [encode_pair(lm.tokenizer, f.prompt, f.target_new) for f in facts]
            with torch.no_grad():
                parts = self.updates(lm, editor, encoded)
        except (RuntimeError, ValueError) as exc:
            raise EditError(f"mend failed: {exc}") from exc
        updates = tuple(LowRankUpdate(p, left.detach().cpu(), right.detach().cpu())
                        for p, (left, right) in sorted(parts.items()))
        info = {**(info or {}), "params": [u.param for u in updates]}
        return Delta(self.name, updates, tuple(f.id for f in facts), as_dict(hp), info)

    def train_step(self, lm: LoadedModel, editor, batch: Sequence[Fact], hp: MENDHParams) -> dict[str, float]:
        """Backward of the training loss over one step's requests; their mean figures."""
        from core.methods.mend_train import train_step

        return train_step(lm, editor, batch, hp)

    def batch(self, facts: Sequence[Fact], step: int, hp: MENDHParams) -> list[Fact]:
        return sample_batch(facts, step, hp)


_EDITORS: dict[tuple, tuple] = {}
MEND = MendMethod()


def sample_batch(facts: Sequence[Fact], step: int, hp: MENDHParams) -> list[Fact]:
    """The requests of one training step: a function of (seed, step) alone, so a resumed
    run sees the same sequence."""
    rng = random.Random(hp.seed * 1_000_003 + step)
    return rng.sample(list(facts), min(hp.edits_per_step, len(facts)))
