"""MEND's training objective (Mitchell et al., ICLR 2022, §3.3), one request at a time.

For a request: the update is computed from the fine-tuning gradient on its edit input (as
at edit time: the prompt, or InstructEdit's instructed prompt), applied through
``torch.func.functional_call`` (the model is never written), and the loss is

    c_edit · mean NLL(target_new | prompt and paraphrases, edited weights)
  + c_loc  · mean KL(p_unedited ‖ p_edited) over the answer tokens of its locality prompts

(``core.methods.edit_objective``), differentiable in the editor's network and its
per-layer steps α. The requests of a step are edited independently (single edits, as at
edit time) and their gradients add up.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from core.facts.fact import Fact
from core.methods.edit_objective import accumulate, edited_figures
from core.methods.mend_net import editor_updates
from core.model.tokens import EncodedPair, encode_pair

EditInput = Callable[[Fact], Sequence[EncodedPair]]  # the token sequences whose gradient the editor transforms


def plain_input(lm) -> EditInput:
    return lambda fact: [encode_pair(lm.tokenizer, fact.prompt, fact.target_new)]


def request_loss(lm, editor, fact: Fact, hp, edit_input: EditInput,
                 observe: bool = False) -> tuple[torch.Tensor, dict]:  # hp: MENDHParams
    """(loss, figures) of one edit request; figures: edit NLL, edit token accuracy, KL."""
    parts = editor_updates(lm, editor, list(edit_input(fact)), observe=observe)
    got = edited_figures(lm, parts, fact, hp.max_paraphrases, hp.max_locality)
    loss = hp.c_edit * got.nll + hp.c_loc * got.kl
    return loss, {"edit_nll": float(got.nll.detach()), "edit_acc": got.accuracy, "kl": float(got.kl.detach())}


def train_step(lm, editor, batch: Sequence[Fact], hp, edit_input: EditInput | None = None) -> dict[str, float]:
    """Backward over each request of the step (gradients accumulate); the mean figures."""
    edit_input = edit_input or plain_input(lm)
    return accumulate(batch, lambda fact: request_loss(lm, editor, fact, hp, edit_input, observe=True))
