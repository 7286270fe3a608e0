"""Write a model (as it currently is in memory) to a Hugging Face folder with safetensors.

Codebook adaptors (GRACE) are part of that state but not of the weights: they go to
``core.edit.adaptors.FILE_NAME`` beside the weights, and ``core.model.loading`` reinstalls them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from core.edit.adaptors import save_adaptors
from core.model.loading import LoadedModel


def save_model_folder(lm: LoadedModel, out: Path, extra_files: Mapping[str, str] | None = None) -> Path:
    """Save weights, config, tokenizer and ``extra_files`` ({name: text}); the folder
    appears complete or not at all."""
    out = Path(out).expanduser().resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} already exists and is not an empty folder; choose a new one")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        lm.model.save_pretrained(staging, safe_serialization=True)
        lm.tokenizer.save_pretrained(staging)
        save_adaptors(lm.model, staging)
        for name, text in (extra_files or {}).items():
            (staging / name).write_text(text, encoding="utf-8")
        if not any(staging.glob("*.safetensors")):
            raise OSError(f"saving to {out} wrote no .safetensors weights")
        if out.exists():
            out.rmdir()
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out
