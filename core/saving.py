"""Write a model (as it currently is in memory) to a Hugging Face folder with safetensors.

Codebook adaptors (GRACE) are part of that state but not of the weights: they go to
``core.adaptors.FILE_NAME`` beside the weights, and ``core.loading`` reinstalls them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from core.adaptors import save_adaptors
from core.loading import LoadedModel


def save_model_folder(lm: LoadedModel, out: Path) -> Path:
    """Save weights, config and tokenizer; the folder appears complete or not at all."""
    out = Path(out).expanduser().resolve()
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty; choose a new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        lm.model.save_pretrained(staging, safe_serialization=True)
        lm.tokenizer.save_pretrained(staging)
        save_adaptors(lm.model, staging)
        if out.exists():
            out.rmdir()
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out
