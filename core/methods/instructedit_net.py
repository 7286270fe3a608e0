"""InstructEdit's editor: MEND's network (``core.methods.mend_net.MendEditor``) plus a
nearest-centroid task classifier for requests that name no relation.

While training, the editor keeps per task the sum and count of the unedited model's
last-layer hidden state at the last prompt token (the state the next-token prediction
is read from, so it says what kind of answer comes next: a city, a currency, a
continent...), as MEND keeps its normalisation statistics. At edit time a prompt goes to
the task whose mean state is nearest in cosine, if that similarity reaches the given
threshold; otherwise it gets none.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.nn import functional as F  # noqa: N812 (torch's own convention)

from core.methods.mend_net import MendEditor
from core.model.tokens import encode_text, model_batch


class InstructEditor(MendEditor):
    def __init__(self, params: Sequence[str], shapes: Sequence[tuple[int, int]], rank: int, edit_lr: float,
                 hidden_size: int, n_tasks: int) -> None:
        super().__init__(params, shapes, rank, edit_lr)
        self.register_buffer("task_sums", torch.zeros(n_tasks, hidden_size))
        self.register_buffer("task_counts", torch.zeros(n_tasks))

    @torch.no_grad()
    def observe_tasks(self, tasks: Sequence[int], states: torch.Tensor) -> None:
        index = torch.tensor(list(tasks), device=states.device)
        self.task_sums.index_add_(0, index, states.float())
        self.task_counts.index_add_(0, index, torch.ones(len(tasks), device=states.device))

    @torch.no_grad()
    def classify(self, states: torch.Tensor, min_similarity: float) -> list[int | None]:
        """Each state's task (row of the task table), or None when no seen task is near enough."""
        seen = self.task_counts > 0
        if not bool(seen.any()):
            return [None] * len(states)
        centroids = self.task_sums / self.task_counts.clamp(min=1.0)[:, None]
        similarity = F.cosine_similarity(states.float()[:, None], centroids[None], dim=-1)
        similarity[:, ~seen] = -2.0
        best, task = similarity.max(dim=1)
        return [int(t) if float(b) >= min_similarity else None for b, t in zip(best, task)]


@torch.no_grad()
def prompt_states(lm, prompts: Sequence[str]) -> torch.Tensor:
    """(n, hidden): the unedited model's last-layer state at each prompt's last token."""
    encoded = [encode_text(lm.tokenizer, p.rstrip()) for p in prompts]
    ids, mask = model_batch(lm, encoded)
    hidden = lm.model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[-1]
    last = torch.tensor([len(e) - 1 for e in encoded], device=hidden.device)
    return hidden[torch.arange(len(encoded), device=hidden.device), last].float()
