"""A forward pass that projects to the vocabulary only where a loss reads it.

Edit optimisations (ROME's and MEMIT's value steps) read the logits at a few dozen
positions of a batch of hundreds; the language-model head over every position is work
thrown away, forward and backward (a 124M GPT-2's 50k-token head is about a third of its
forward pass: its ROME edit went from 13.5 to 10.8 s on one core). Every supported family
computes ``lm_head(final_norm(...))`` with nothing after the head, so the base model's
last hidden state at the wanted positions through the output embeddings gives the same
logits (``tests/core/test_forward.py`` checks each family against the full forward).
"""

from __future__ import annotations

from core.model.loading import LoadedModel


def logits_at(lm: LoadedModel, ids, mask, rows, positions):
    """Logits (len(rows), vocab) of ``lm`` on the batch at ``(rows[i], positions[i])``."""
    hidden = lm.model.base_model(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
    return lm.model.get_output_embeddings()(hidden[rows, positions])
