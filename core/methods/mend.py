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

Edit scale and training round on the present training data (issue 17, 2026-12-07; the file's
locality probes 0-b subjects' phrasings only, on which MEND's test reliability fell to 0.893).
By the rule KE and InstructEdit were chosen with (``instructedit.py``): candidates trained with
`factsmith train --method mend --facts editor_train.jsonl --val quality_dev.jsonl --val-size 40
--set KEY=VALUE`, measured on both dev splits (``bench/trained_editors.py --checkpoint …
--split dev|devheldout --set mend.edit_scale=S``). Seed 0 (quality_dev; devheldout):

| setting (seed 0)         | scale | quality_dev           | devheldout            |
|--------------------------|-------|-----------------------|-----------------------|
| preset (600)             | 1.0   | 0.888 / 0.854 / 0.932 | 0.976 / 0.916 / 0.900 |
| preset (600)             | 0.9   | 0.871 / 0.797 / 0.940 | 0.969 / 0.910 / 0.921 |
| preset (600)             | 1.2   | 0.900 / 0.888 / 0.907 | 0.984 / 0.943 / 0.864 |
| 1,200 steps              | 1.0   | 0.908 / 0.878 / 0.923 | 0.973 / 0.933 / 0.865 |
| cosine decay             | 1.0   | 0.928 / 0.872 / 0.920 | 0.979 / 0.956 / 0.867 |
| cosine decay             | 0.9   | 0.916 / 0.838 / 0.928 | 0.976 / 0.937 / 0.887 |
| Adam 5e-4                | 1.0   | 0.919 / 0.884 / 0.903 | 0.980 / 0.947 / 0.866 |
| Adam 5e-4                | 0.9   | 0.898 / 0.848 / 0.919 | 0.972 / 0.928 / 0.896 |

Every change that raised reliability gave up devheldout locality. Seeds 0-2 of the preset and
of the closest change (Adam 5e-4), seed means, and each setting's smallest margin to the targets
(reliability 0.9, generality 0.7, locality 0.9) over both splits:

| setting (seeds 0-2) | scale | quality_dev           | devheldout            | smallest margin |
|---------------------|-------|-----------------------|-----------------------|-----------------|
| preset              | 1.0   | 0.913 / 0.860 / 0.918 | 0.971 / 0.930 / 0.885 | -0.015          |
| preset              | 0.9   | 0.892 / 0.824 / 0.931 | 0.969 / 0.922 / 0.906 | -0.008          |
| Adam 5e-4           | 1.0   | 0.922 / 0.877 / 0.906 | 0.978 / 0.943 / 0.869 | -0.031          |
| Adam 5e-4           | 0.9   | 0.909 / 0.858 / 0.922 | 0.973 / 0.928 / 0.888 | -0.012          |

None meets every target; the preset at 0.9 misses by least, so MEND edits at 0.9 of the trained
update (``edit_scale``), as KE does. Then measured once on test and on the 250 held-out requests
(``--split test|heldout``), all three seeds at both scales, so the choice is seen against the
scale it replaced (test; heldout):

| seed | 0.9 (preset)                                  | 1.0                                           |
|------|-----------------------------------------------|-----------------------------------------------|
| 0    | 0.872 / 0.835 / 0.946; 0.955 / 0.901 / 0.919 | 0.893 / 0.863 / 0.930; 0.970 / 0.914 / 0.902 |
| 1    | 0.885 / 0.877 / 0.942; 0.977 / 0.909 / 0.913 | 0.916 / 0.890 / 0.934; 0.979 / 0.931 / 0.906 |
| 2    | 0.897 / 0.870 / 0.941; 0.960 / 0.905 / 0.909 | 0.914 / 0.880 / 0.912; 0.969 / 0.922 / 0.891 |

At 0.9 every seed meets every target on the 250 held-out requests and misses test reliability
(by 0.003-0.028); at 1.0 seeds 1 and 2 meet test and seed 2 misses held-out locality. The dev
rule's choice stands: it was made before test was read, and test's 40 requests move by more
between seeds than the scales differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.facts.fact import Fact
from core.methods.trained import TrainedEditorMethod, edited_params, last_layers
from core.model.loading import LoadedModel
from core.model.tokens import EncodedPair, encode_pair

__all__ = ["MEND", "MENDHParams", "MendMethod", "last_layers"]


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
    edit_scale: float = 1.0  # the trained update times this, at edit time and in validation (not in the loss)
    lr_decay: str = "none"  # the rates' schedule over the run: "none", "cosine" or "linear" (to ~0 at the end)


class MendMethod(TrainedEditorMethod):
    name = "mend"
    hparams_class = MENDHParams

    def new_editor(self, lm: LoadedModel, hp: MENDHParams):
        from core.methods.mend_net import MendEditor

        params, shapes = edited_params(lm, hp.layers)
        return MendEditor(params, shapes, hp.rank, hp.edit_lr).to(lm.device)

    def optimizer(self, editor, hp: MENDHParams):
        import torch

        rest = [p for n, p in editor.named_parameters() if n != "lrs"]
        return torch.optim.Adam([{"params": rest, "lr": hp.lr}, {"params": [editor.lrs], "lr": hp.lr_lr}])

    def edit_inputs(self, lm: LoadedModel, editor, facts: Sequence[Fact], hp) -> tuple[list[EncodedPair], dict]:
        """The tokens whose gradient the editor transforms (MEND: the prompt and its target)."""
        return [encode_pair(lm.tokenizer, f.prompt, f.target_new) for f in facts], {}

    def edit_updates(self, lm: LoadedModel, editor, facts: Sequence[Fact], hp) -> tuple[dict, dict]:
        """({param: (left, right)}, info) of the edit of all facts (one gradient of their joint loss)."""
        from core.methods.mend_net import editor_updates

        encoded, info = self.edit_inputs(lm, editor, facts, hp)
        return editor_updates(lm, editor, encoded), info

    def train_step(self, lm: LoadedModel, editor, batch: Sequence[Fact], hp: MENDHParams) -> dict[str, float]:
        """Backward of the training loss over one step's requests; their mean figures."""
        from core.methods.mend_train import train_step

        return train_step(lm, editor, batch, hp)


MEND = MendMethod()
