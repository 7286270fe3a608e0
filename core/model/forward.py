"""A forward pass that projects to the vocabulary only where a loss reads it.

Edit optimisations (ROME's and MEMIT's value steps) read the logits at a few dozen
positions of a batch of hundreds; the language-model head over every position is work
thrown away, forward and backward (a 124M GPT-2's 50k-token head is about a third of its
forward pass: its ROME edit went from 13.5 to 10.8 s on one core). The model runs as
usual (hooks on the model itself, such as the hook layers' mask catcher, and accelerate's
device hooks, all fire); only the head's input is cut to the wanted positions, by a
pre-hook removed in ``finally``. Every supported family returns ``lm_head(...)`` as its
logits with nothing after it (``tests/core/test_forward.py`` checks each against the full
forward).
"""

from __future__ import annotations

from core.model.loading import LoadedModel


def logits_at(lm: LoadedModel, ids, mask, rows, positions):
    """Logits (len(rows), vocab) of ``lm`` on the batch at ``(rows[i], positions[i])``."""
    head = lm.model.get_output_embeddings()

    def only_wanted(_module, args):
        hidden = args[0]
        return (hidden[rows.to(hidden.device), positions.to(hidden.device)], *args[1:])

    handle = head.register_forward_pre_hook(only_wanted)
    try:
        return lm.model(input_ids=ids, attention_mask=mask, use_cache=False).logits
    finally:
        handle.remove()
