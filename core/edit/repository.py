"""RECIPE's knowledge retrieval repository: edits held beside the weights, as
(key representation, continuous prompt) pairs (seed 003 §4.1-4.3).

Each entry holds a key ``k`` (D + 1 floats) in the sentence encoder's feature space and a
prompt (l × d_model). For a query q with features f = f_rm(q) (``core.edit.sentence_encoder``)
the score of an entry is [f; 1]·k, and the knowledge sentinel's is [f; 1]·s for the
repository's sentinel key s: the best-scoring entry's prompt is prefixed to the input
embeddings (``core.edit.prompt_prefix``) when its score beats the sentinel's, else the
model runs untouched. ``core.methods.recipe`` explains why keys live in feature space
(the query map is linear, so a repository needs no trained network to answer queries).

A query is the text of a row's tokens (decoded with the model's tokenizer, bound at load
by ``bind_tokenizer``); scoring code that knows where each row's prompt ends says so with
``query_spans`` so retrieval reads the question, not the answer being scored.

The repository belongs to the model object (attribute ``_factsmith_repository``), never to
a module-level cache. Its content is an immutable ``RepositoryState``; entries carry an id
(sha256 of their bits and label), so a revert removes exactly its own entries whatever
else was added since. All entries must share one sentinel and encoder (one trained
retriever). An empty repository removes its hooks: an unedited model runs untouched.

Edits are computed with retrieval paused (``retrieval_paused``, in ``core.workflows``): a
prefix would shift the token positions other methods capture keys and values at, so a weight
edit or codebook entry is fitted to the weights and codebooks alone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.edit.sidestate import attached, save_side_file

ATTR = "_factsmith_repository"
TOKENIZER_ATTR = "_factsmith_tokenizer"
FILE_NAME = "factsmith_repository.safetensors"  # written next to the weights of a saved folder
_FORMAT = "factsmith-repository"
_FEATURE_MEMO = 16384  # query features kept per model (texts recur across evaluations)


class RepositoryError(ValueError):
    """Entries do not fit the repository or the model, or a file is corrupt."""


@dataclass(frozen=True)
class PromptEntry:
    entry_id: bytes  # 32 bytes, ``entry_id``
    key: Any  # (D + 1,) float32, CPU
    prompt: Any  # (l, d_model) float32, CPU
    label: str  # the edit's target, for people reading the repository


def entry_id(key, prompt, label: str) -> bytes:
    h = hashlib.sha256(f"{tuple(key.shape)}\0{tuple(prompt.shape)}\0{label}\n".encode())
    h.update(key.float().contiguous().numpy().tobytes() + prompt.float().contiguous().numpy().tobytes())
    return h.digest()


@dataclass(frozen=True)
class RepositoryState:
    encoder: str  # the sentence encoder's identity (``SentenceEncoder.identity``)
    sentinel: Any  # (D + 1,) float32: the knowledge sentinel's key
    entries: tuple[PromptEntry, ...]

    def __len__(self) -> int:
        return len(self.entries)

    def digest(self) -> str:
        h = hashlib.sha256(f"{_FORMAT}\0{self.encoder}\n".encode())
        h.update(self.sentinel.float().contiguous().numpy().tobytes())
        for entry in self.entries:
            h.update(entry.entry_id)
        return h.hexdigest()


def added(state: RepositoryState | None, encoder: str, sentinel, entries: Sequence[PromptEntry],
          width: int | None = None) -> RepositoryState:
    """``state`` with ``entries`` appended (a new object); RepositoryError when they do not fit."""
    import torch

    for entry in entries:
        if entry_id(entry.key, entry.prompt, entry.label) != entry.entry_id:
            raise RepositoryError("a repository entry's id does not match its content")
        if width is not None and entry.prompt.shape[-1] != width:
            raise RepositoryError(f"a prompt of width {entry.prompt.shape[-1]} does not fit this model's "
                                  f"embeddings of width {width}")
    if state is None or not state.entries:
        return RepositoryState(encoder, sentinel.float().cpu().clone(), tuple(entries))
    if encoder != state.encoder or not torch.equal(sentinel.float().cpu(), state.sentinel):
        raise RepositoryError("these entries come from another trained RECIPE retriever than the repository's "
                              "(another sentinel or encoder); revert the repository's edits first")
    shapes = {(tuple(e.key.shape), tuple(e.prompt.shape)) for e in (*state.entries, *entries)}
    if len(shapes) > 1:
        raise RepositoryError(f"repository entries of different shapes: {sorted(shapes)}")
    return RepositoryState(state.encoder, state.sentinel, (*state.entries, *entries))


def removed(state: RepositoryState | None, ids: Sequence[bytes]) -> RepositoryState | None:
    """``state`` without one entry per id (the last one holding it); None once empty."""
    entries = list(state.entries) if state is not None else []
    for wanted in ids:
        where = [i for i, e in enumerate(entries) if e.entry_id == wanted]
        if not where:
            raise RepositoryError(f"the repository holds no entry {wanted.hex()[:12]}")
        del entries[where[-1]]
    return RepositoryState(state.encoder, state.sentinel, tuple(entries)) if entries else None


def next_state(model, updates: Sequence[RepositoryUpdate]) -> RepositoryState | None:
    """The model's repository after ``updates`` (``RepositoryUpdate``s; None when there are none),
    checked against the model and the installed encoder; nothing installed."""
    if not updates:
        return None
    state, width = live_state(model), model.get_input_embeddings().weight.shape[1]
    for u in updates:
        if repository(model).encoder().identity != u.encoder:
            raise RepositoryError(f"its entries were made with the sentence encoder {u.encoder}, the installed "
                                  f"one is {repository(model).encoder().identity}")
        if not len(u.ids) == len(u.keys) == len(u.prompts) == len(u.labels):
            raise RepositoryError("a repository update has mismatched entry counts")
        entries = [PromptEntry(bytes(i.tolist()), k, p, label)
                   for i, k, p, label in zip(u.ids, u.keys, u.prompts, u.labels, strict=True)]
        state = added(state, u.encoder, u.sentinel, entries, width)
    return state


@dataclass(frozen=True)
class RepositoryUpdate:
    """Entries for the model's RECIPE retrieval repository (``PromptRepository``): no weight
    changes; applying adds them, reverting removes exactly them (by id)."""

    keys: Any  # (n, D + 1) float32: key representations in the encoder's feature space
    prompts: Any  # (n, l, d_model) float32: the continuous prompts
    sentinel: Any  # (D + 1,) float32: the knowledge sentinel's key (one per trained retriever)
    ids: Any  # (n, 32) uint8: each entry's id (``entry_id``)
    labels: tuple[str, ...]
    encoder: str  # the sentence encoder's identity

    def tensors(self) -> dict[str, Any]:
        return {"repository::keys": self.keys, "repository::prompts": self.prompts,
                "repository::sentinel": self.sentinel, "repository::ids": self.ids}


class PromptRepository:
    """The repository installed on one model: its state, device copies, encoder and hooks."""

    def __init__(self, model) -> None:
        self._model = model
        self.state: RepositoryState | None = None
        self._device: tuple | None = None  # (keys (n, D+1), prompts (n, l, d), sentinel (D+1,))
        self._encoder = None
        self._features: dict[str, Any] = {}
        self._hooks = None
        self.query_lengths: list[int] | None = None
        self.paused = 0

    def set(self, state: RepositoryState | None) -> None:
        """Install ``state`` (None or empty: no repository, no hooks)."""
        from core.edit.prompt_prefix import PrefixHooks

        state = state if state is not None and state.entries else None
        if state is not None:
            self._check_encoder(state)
        self.state, self._device = state, None
        if state is None and self._hooks is not None:
            self._hooks.remove()
            self._hooks = None
        elif state is not None and self._hooks is None:
            self._hooks = PrefixHooks(self._model, self.choose, lambda: self.paused > 0)

    def encoder(self):
        from core.edit.sentence_encoder import SentenceEncoder

        if self._encoder is None:
            self._encoder = SentenceEncoder(self._model.get_input_embeddings().weight.device)
        return self._encoder

    def _check_encoder(self, state: RepositoryState) -> None:
        if self.encoder().identity != state.encoder:
            raise RepositoryError(f"the repository's entries were made with the sentence encoder {state.encoder}; "
                                  f"the installed one is {self.encoder().identity}")

    def _tensors(self):
        import torch

        if self._device is None:
            device = self._model.get_input_embeddings().weight.device
            keys = torch.stack([e.key for e in self.state.entries]).to(device)
            prompts = torch.stack([e.prompt for e in self.state.entries]).to(device)
            self._device = (keys, prompts, self.state.sentinel.to(device))
        return self._device

    def features(self, texts: Sequence[str]):
        """f_rm of each text, one text at a time (so a text's features never depend on its batch)."""
        import torch

        for text in dict.fromkeys(texts):
            if text not in self._features:
                if len(self._features) >= _FEATURE_MEMO:
                    self._features.pop(next(iter(self._features)))
                self._features[text] = self.encoder().features([text])[0]
        return torch.stack([self._features[t] for t in texts])

    def retrieve(self, texts: Sequence[str]):
        """(index of the best entry (B,), whether it beats the sentinel (B,))."""
        keys, _, sentinel = self._tensors()
        feats = self.features(texts).to(keys.device)
        scores = feats @ keys[:, :-1].T + keys[:, -1]
        best, index = scores.max(dim=1)
        return index, best > feats @ sentinel[:-1] + sentinel[-1]

    def choose(self, ids, mask):
        """The pre-hook's chooser: (prompts (B, l, d), has (B,)) for rows that retrieve, else None."""
        if self.state is None:
            return None
        texts = query_texts(self._model, ids, mask, self.query_lengths)
        index, has = self.retrieve(texts)
        if not bool(has.any()):
            return None
        return self._tensors()[1][index], has


def query_texts(model, ids, mask, lengths: list[int] | None) -> list[str]:
    """Each row's text (its unmasked tokens; the first ``lengths[r]`` of them when given)."""
    tokenizer = model.__dict__.get(TOKENIZER_ATTR)
    if tokenizer is None:
        raise RepositoryError("a RECIPE repository reads queries as text: load the model with "
                              "core.model.loading.load_model (which binds its tokenizer)")
    lengths = lengths if lengths is not None and len(lengths) == ids.shape[0] else None
    texts = []
    for row in range(ids.shape[0]):
        seq = ids[row][mask[row].bool()].tolist()
        seq = seq[: lengths[row]] if lengths is not None else seq
        texts.append(tokenizer.decode(seq, skip_special_tokens=True).strip())
    return texts


def bind_tokenizer(model, tokenizer) -> None:
    object.__setattr__(model, TOKENIZER_ATTR, tokenizer)  # a plain attribute, not a submodule


def repository(model, create: bool = True) -> PromptRepository | None:
    return attached(model, ATTR, lambda: PromptRepository(model), create)


def live_state(model) -> RepositoryState | None:
    found = repository(model, create=False)
    return found.state if found is not None else None


def repository_digest(model) -> str | None:
    """The repository's hash, or None when the model has none (fingerprints stay as before)."""
    state = live_state(model)
    return state.digest() if state is not None else None


@contextmanager
def query_spans(model, lengths: Sequence[int]) -> Iterator[None]:
    """Within: retrieval reads only the first ``lengths[r]`` tokens of row r (the question)."""
    found = repository(model, create=False)
    if found is None or found.state is None:
        yield
        return
    before, found.query_lengths = found.query_lengths, list(lengths)
    try:
        yield
    finally:
        found.query_lengths = before


@contextmanager
def retrieval_paused(model) -> Iterator[None]:
    """Within: the model runs as if the repository were empty."""
    found = repository(model, create=False)
    if found is None:
        yield
        return
    found.paused += 1
    try:
        yield
    finally:
        found.paused -= 1


def save_repository(model, folder: Path) -> Path | None:
    """Write the model's repository to ``folder/FILE_NAME``; nothing when it has none."""
    import torch

    state = live_state(model)
    if state is None:
        return None
    tensors = {"keys": torch.stack([e.key for e in state.entries]),
               "prompts": torch.stack([e.prompt for e in state.entries]), "sentinel": state.sentinel}
    meta = {"format": _FORMAT, "encoder": state.encoder, "labels": json.dumps([e.label for e in state.entries])}
    return save_side_file(folder, FILE_NAME, tensors, meta)


def load_repository(model, folder: Path) -> int:
    """Install the repository saved in ``folder`` (if any); the number of entries."""
    from safetensors import safe_open

    path = Path(folder) / FILE_NAME
    if not path.is_file():
        return 0
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
            keys, prompts, sentinel = (fh.get_tensor(n) for n in ("keys", "prompts", "sentinel"))
        labels = json.loads(meta["labels"])
    except Exception as exc:  # safetensors raises its own error type for bad bytes
        raise RepositoryError(f"{path} is not a readable repository file: {exc}") from None
    if meta.get("format") != _FORMAT or not len(keys) == len(prompts) == len(labels):
        raise RepositoryError(f"{path} is not a Factsmith repository file")
    entries = [PromptEntry(entry_id(k, p, lab), k, p, lab) for k, p, lab in zip(keys, prompts, labels, strict=True)]
    repository(model).set(added(None, meta["encoder"], sentinel, entries))
    return len(entries)
