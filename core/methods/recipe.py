"""RECIPE: retrieval-augmented continuous prompt learning for lifelong editing (Chen et
al.; seed 003 §4; methods.md §3).

An edit adds one entry per fact to the model's knowledge retrieval repository
(``core.edit.repository``): the statement k = prompt + new answer is encoded by a frozen
sentence encoder (all-MiniLM-L6-v2 from its PyPI package; f_rm = max, min and mean
pooling) and trained maps (``core.methods.recipe_net``) give its knowledge
representation r_k = MLP_K(f_rm(k)) and continuous prompt p_k = MLP_P(r_k) (l tokens of
the LLM's embedding width). At inference every query is encoded, the best entry j is
found by r̃_qᵀ r_kj with r̃_q = MLP_Q(f_rm(q)), and p_kj is prefixed to the input
embeddings only if that beats the knowledge sentinel's r̃_qᵀ r_Θ; otherwise the model runs
untouched. The weights never change: the delta is a ``RepositoryUpdate`` (keys, prompts,
the sentinel key, entry ids), applied and reverted exactly, stored in the edit log,
checked out, patched and saved beside the weights like GRACE's codebooks. Computing it
runs no LLM forward at all, so the model is trivially left bit-identical.

Departures from the paper, each forced by the setting:

- The encoder is frozen (the paper fine-tunes RoBERTa): a fine-tuned encoder would be
  state every edit needs, 90 MB a copy; MiniLM from a pinned package is exact everywhere.
- MLP_Q is one linear map (the paper: two layers). A linear query map lets each key be
  stored in the encoder's feature space ([Wᵀ r_k; bᵀ r_k], ``RecipeEditor.feature_keys``),
  so a repository answers queries with the encoder alone, and an edit log replays without
  the checkpoint; MLP_K and MLP_P (used only when an edit is made) are the paper's.
- Retrieval reads the question: teacher-forced scoring names where each row's prompt ends
  (``core.edit.repository.query_spans``); generation retrieves once, on the prompt.

Training (``factsmith train --method recipe``, ``core.workflows.train``; the losses are in
``core.methods.recipe_train``) needs a checkpoint per base model; ``checkpoint`` names it
(empty: the default path for this model); a checkpoint made for another model is refused.

- ``refine_steps`` (an extension, on in the small preset, off in its ``paper`` variant):
  each new prompt, as MLP_P made it, is tuned with Adam on its own edit's target NLL
  (prompt only: no paraphrase or locality data) until the NLL is under 0.1, ≤ 50 steps.
  On the demo model MLP_P's prompts alone carry too little of an unseen target (below).

Presets (``core.methods.presets``): the paper's Appendix C for large models; for small
ones (< 100M) width 0 (the encoder's 3 × 384, MLP_K and MLP_Q starting as the identity,
so retrieval starts from MiniLM's own similarity), Adam 1e-4, 16 requests per step in the
editing loss, 64 in the contrastive terms, 2 locality probes each, ``refine_steps`` 50.

Tuning (dev only). Retrieval alone on the 100 dev requests (``quality_dev`` +
``dev_edits``; edit prompt finds its entry / paraphrase finds it / locality prompt finds
nothing): MiniLM cosine with a fixed threshold at best 0.96 / 0.64 / 0.91; MLP_K and MLP_Q
of width 1024 from random starts, 1,000 contrastive steps: 0.59-0.77 / 0.52-0.75 /
0.61-0.87 (overfitting the 1,559 training requests); identity start with 64 requests a
step: 0.91 / 0.76 / 0.93. The trained checkpoint below: 0.80 / 0.70 / 0.93.
``bench/quality.py --split dev --methods recipe:sequential`` (40 requests in sequence,
teacher-forced; rel / gen / loc, rel on other-kind targets, s/edit):

| setting (1,500 training steps)          | rel   | gen   | loc   | rel other | s/edit |
|-----------------------------------------|-------|-------|-------|-----------|--------|
| ``recipe@paper`` (MLP_P's prompts)       | 0.185 | 0.183 | 0.988 | 0.158     | 0.10   |
| ``recipe`` (prompts tuned, ≤ 50 steps)   | 0.757 | 0.527 | 0.978 | 0.563     | 0.86   |

Training: ``factsmith train --method recipe --model assets/demo-model --facts
assets/demo-model/editor_train.jsonl --val assets/demo-model/quality_dev.jsonl --steps
1500 --val-every 500`` (1,559 requests, subjects 0-b): 915 s on a shared 2-core CPU (one
torch thread), 0.6 s a step; validation (20 dev single edits) at 500 / 1,000 / 1,500
steps: reliability 0.22 / 0.21 / 0.24, generality 0.20 / 0.22 / 0.22, locality 1.0.
The training loss falls from 77 to ~8 (the contrastive part from 48 to ~0.2).

Held-out test split (``bench/quality.py --split test --methods
recipe:sequential,recipe@paper:sequential,grace:sequential``, 40 requests about subjects
c-f, edited in sequence, teacher-forced; EM = greedy exact match):

| method (sequential)  | rel   | gen   | loc   | rel other | EM rel | EM loc | s/edit |
|----------------------|-------|-------|-------|-----------|--------|--------|--------|
| recipe               | 0.765 | 0.544 | 0.949 | 0.787     | 0.625  | 0.971  | 0.93   |
| recipe@paper         | 0.208 | 0.239 | 0.976 | 0.223     | 0.100  | 0.988  | 0.05   |
| grace                | 0.885 | 0.420 | 0.965 | 0.771     | 0.775  | 0.979  | 0.61   |

Lifelong (``bench/continual.py --edits 200 --every 50 --methods recipe`` and ``--methods
grace``: requests about evaluation subjects, one after another, measured teacher-forced
on all edits so far):

| edits | recipe retention | gen   | loc   | grace retention | gen   | loc   |
|-------|------------------|-------|-------|-----------------|-------|-------|
| 50    | 0.907            | 0.684 | 1.000 | 0.969           | 0.518 | 1.000 |
| 100   | 0.882            | 0.679 | 0.992 | 0.963           | 0.521 | 1.000 |
| 150   | 0.850            | 0.639 | 0.993 | 0.975           | 0.475 | 0.998 |
| 200   | 0.852            | 0.641 | 0.990 | 0.974           | 0.476 | 0.990 |

``bench/continual.py --edits 500 --every 100 --methods recipe,grace`` (another draw of
requests; fluency, n-gram entropy ×100 of greedy text: 275 unedited, 280 after RECIPE's
500 edits, 272 after GRACE's):

| edits | recipe retention | gen   | loc   | grace retention | gen   | loc   |
|-------|------------------|-------|-------|-----------------|-------|-------|
| 100   | 0.890            | 0.758 | 0.980 | 0.988           | 0.466 | 1.000 |
| 200   | 0.870            | 0.690 | 0.973 | 0.989           | 0.442 | 0.994 |
| 300   | 0.872            | 0.702 | 0.973 | 0.980           | 0.456 | 0.991 |
| 400   | 0.879            | 0.686 | 0.976 | 0.977           | 0.506 | 0.993 |
| 500   | 0.871            | 0.669 | 0.973 | 0.981           | 0.516 | 0.996 |

Editing 500 facts took RECIPE 349 s (0.7 s an edit, the prompt tuning) and GRACE 525 s.

Locality holds as the repository grows (the sentinel answers "nothing relevant" for
other questions) and retention settles near 0.87 after a first drop (retrieval confusion
among entries, not forgetting: entries never change); RECIPE generalises to paraphrases
better than GRACE (0.67-0.76 against 0.44-0.52) and keeps fewer of its edits. Against the issue's targets at 1,000
edits (retention ≥ 0.95, generality ≥ 0.8, locality ≥ 0.95) locality is met, the others
are not: a frozen MiniLM with trained maps tells apart "The capital of Chile is" and
"The capital of Peru is" less well than the paper's fine-tuned RoBERTa, and this 6-layer
model follows a generated 3-token prompt poorly (per-fact tuned prompts reach the target,
MLP_P's rarely do for unseen targets).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core.edit.deltas import Delta
from core.edit.repository import RepositoryUpdate, entry_id, repository
from core.facts.fact import Fact
from core.methods.base import EditError
from core.methods.editor_ckpt import (
    Checkpoint,
    CheckpointError,
    default_checkpoint,
    read_checkpoint,
    recorded_hparams,
)
from core.methods.hparams import as_dict
from core.methods.presets import preset_values
from core.model.loading import LoadedModel
from core.util.atomic import file_sha256
from core.util.progress import Progress, silent

EDITOR_ATTR = "_factsmith_recipe_editor"  # the loaded editor, kept on the model object it serves


@dataclass(frozen=True)
class RECIPEHParams:
    checkpoint: str = ""  # the trained editor; "": the default path for this model
    prompt_tokens: int = 3  # l, continuous prompt tokens (paper: 3)
    sentinel_tokens: int = 10  # c, the sentinel's tokens (paper: 10)
    width: int = 4096  # d_r and the MLPs' hidden width (paper: 4096); 0: the encoder's feature width
    lr: float = 1e-5  # Adam (paper: 1e-5)
    edits_per_step: int = 8  # requests per training step (paper: batch 8)
    locality_probes: int = 1  # locality prompts per request in the KL term (paper: one)
    contrastive_requests: int = 0  # requests per step in the contrastive terms (≤ edits_per_step: the same)
    refine_steps: int = 0  # extension: Adam steps tuning each new prompt on its edit (0: the paper's)
    refine_lr: float = 0.05
    refine_threshold: float = 0.1  # stop once every edit's target NLL is below this
    temperature: float = 1.0  # τ of the InfoNCE losses (paper: 1)
    seed: int = 0


class RecipeMethod:
    name = "recipe"
    hparams_class = RECIPEHParams

    def preset(self, lm: LoadedModel) -> RECIPEHParams:
        return RECIPEHParams(**preset_values(self.name, lm))

    def statistics(self, lm: LoadedModel, hparams: RECIPEHParams) -> tuple:
        return ()

    # --- the trained editor (core.workflows.train's API) -----------------------------

    def new_editor(self, lm: LoadedModel, hp: RECIPEHParams):
        from core.methods.recipe_net import new_editor

        if min(hp.prompt_tokens, hp.sentinel_tokens, hp.edits_per_step) < 1 or hp.width < 0 or hp.temperature <= 0:
            raise EditError("recipe: prompt_tokens, sentinel_tokens, edits_per_step and the temperature must be "
                            "positive, width 0 (the encoder's feature width) or more")
        encoder = repository(lm.model).encoder()  # shared with the model's repository; frozen
        embedding = lm.model.get_input_embeddings().weight
        return new_editor(encoder, embedding, hp.width, hp.prompt_tokens, hp.sentinel_tokens).to(embedding.device)

    def optimizer(self, editor, hp: RECIPEHParams):
        import torch

        return torch.optim.Adam(editor.parameters(), lr=hp.lr)

    def load_editor(self, lm: LoadedModel, checkpoint: Checkpoint, state=None):
        """The trained editor of a checkpoint (its last state, or ``state``: ``checkpoint.editing`` to
        edit with), built with the hyperparameters it was trained with."""
        hp = recorded_hparams(RECIPEHParams, checkpoint.record)
        editor = self.new_editor(lm, hp)
        try:
            editor.load_state_dict(dict(checkpoint.editor if state is None else state))
        except RuntimeError as exc:
            raise CheckpointError(f"the {self.name} checkpoint does not fit this model: {exc}") from exc
        return editor.eval()

    def batch(self, facts: Sequence[Fact], step: int, hp: RECIPEHParams) -> list:
        from core.methods.recipe_train import sample_batch

        return sample_batch(facts, step, hp)

    def train_step(self, lm: LoadedModel, editor, batch: Sequence, hp: RECIPEHParams) -> dict[str, float]:
        from core.methods.recipe_train import train_step

        return train_step(lm, editor, batch, hp)

    # --- edits ---------------------------------------------------------------------

    def compute(self, lm: LoadedModel, facts: Sequence[Fact], hparams: RECIPEHParams | None = None,
                progress: Progress | None = None) -> Delta:
        """One repository entry per fact; the model is not run, let alone changed."""
        hp, progress = hparams or self.preset(lm), progress or silent()
        if not facts:
            raise EditError("recipe: no facts to edit")
        path = Path(hp.checkpoint) if hp.checkpoint else default_checkpoint(self.name, lm.info.fingerprint)
        editor, info = self._editor_at(lm, path)
        progress.check()
        delta = self.editor_delta(lm, editor, facts, hp, info, progress)
        progress.report(1, 1, f"recipe: {len(facts)} repository entr{'y' if len(facts) == 1 else 'ies'} made")
        return delta

    def _editor_at(self, lm: LoadedModel, path: Path) -> tuple:
        """(editor, {checkpoint, step, sha256}) of the checkpoint at ``path``, kept on the model object
        for the file version it was read from (edits do not change an editor)."""
        stat = path.stat() if path.is_file() else None
        key = (str(path.resolve()), stat and (stat.st_mtime_ns, stat.st_size), lm.info.fingerprint)
        kept = lm.model.__dict__.get(EDITOR_ATTR)
        if stat is None or kept is None or kept[0] != key:
            checkpoint = read_checkpoint(path, self.name, lm.info.fingerprint)  # refuses a missing file
            info = {"checkpoint": str(path), "checkpoint_step": checkpoint.record.editing_step,
                    "checkpoint_sha256": file_sha256(path)}
            kept = (key, self.load_editor(lm, checkpoint, checkpoint.editing), info)
            object.__setattr__(lm.model, EDITOR_ATTR, kept)  # a plain attribute, not a submodule
        return kept[1], dict(kept[2])

    def editor_delta(self, lm: LoadedModel, editor, facts: Sequence[Fact], hp: RECIPEHParams,
                     info: dict | None = None, progress: Progress | None = None) -> Delta:
        """The repository entries ``editor`` makes for ``facts``."""
        import torch

        from core.methods.recipe_train import refined_prompts, statement

        labels, refined = tuple(" ".join(f.target_new.split()) for f in facts), []
        try:
            with torch.no_grad():
                reps = editor.keys(editor.text_features([statement(f) for f in facts]))
                keys = editor.feature_keys(reps).float().cpu()
                prompts = editor.prompts(reps)
                sentinel = editor.feature_keys(editor.sentinel_key()[None])[0].float().cpu()
            if hp.refine_steps > 0:
                prompts, refined = refined_prompts(lm, prompts, facts, hp, progress or silent())
            prompts = prompts.float().cpu()
        except (RuntimeError, ValueError) as exc:
            raise EditError(f"recipe failed: {exc}") from exc
        ids = torch.tensor([list(entry_id(k, p, label)) for k, p, label in zip(keys, prompts, labels, strict=True)],
                           dtype=torch.uint8)
        update = RepositoryUpdate(keys, prompts, sentinel, ids, labels, editor.encoder.identity)
        info = {**(info or {}), "entries": len(facts), "prompt_tokens": int(prompts.shape[1]),
                **({"refine_losses": refined} if refined else {})}
        return Delta(self.name, (update,), tuple(f.id for f in facts), as_dict(hp), info)


RECIPE = RecipeMethod()
