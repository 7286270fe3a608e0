"""Write a model (as it currently is in memory) to a Hugging Face folder with safetensors.

Codebook adaptors (GRACE) are part of that state but not of the weights: they go to
``core.edit.adaptors.FILE_NAME`` beside the weights, and ``core.model.loading`` reinstalls them;
RECIPE's retrieval repository likewise goes to ``core.edit.repository.FILE_NAME``;
hook layers (COMEBA-HK) to ``core.edit.hookfiles.FILE_NAME``.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from core.edit.adaptors import save_adaptors
from core.edit.hookfiles import save_hook_layers
from core.edit.repository import save_repository
from core.model.loading import LoadedModel
from core.util.atomic import give_new_modes
from core.util.pid_lock import process_alive

log = logging.getLogger(__name__)

STAGING_MARK = ".factsmith-staging"  # in a staging folder: the pid that is writing it


def remove_stale_staging(parent: Path) -> list[Path]:
    """Remove hidden staging folders in ``parent`` whose writer has died (a killed checkout)."""
    removed = []
    for mark in Path(parent).glob(f".*/{STAGING_MARK}"):
        try:
            pid = int(mark.read_text(encoding="utf-8").strip() or 0)
        except (OSError, ValueError):
            continue
        if pid and not process_alive(pid):
            shutil.rmtree(mark.parent, ignore_errors=True)
            log.info("removed %s, left by a checkout that was killed (process %d)", mark.parent, pid)
            removed.append(mark.parent)
    return removed


def check_new_folder(out: str | os.PathLike[str]) -> Path:
    """``out``, resolved, when a model folder can be written there (nothing there, or an empty
    folder); FileExistsError otherwise. Callers check before any long work, and the save again."""
    out = Path(out).expanduser().resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} already exists and is not an empty folder; choose a new one")
    return out


def save_model_folder(lm: LoadedModel, out: Path, extra_files: Mapping[str, str] | None = None) -> Path:
    """Save weights, config, tokenizer and ``extra_files`` ({name: text}); the folder
    appears complete or not at all, with the modes of any new folder and files (umask)."""
    out = check_new_folder(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(out.parent)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        (staging / STAGING_MARK).write_text(str(os.getpid()), encoding="utf-8")
        lm.model.save_pretrained(staging, safe_serialization=True)
        lm.tokenizer.save_pretrained(staging)
        save_adaptors(lm.model, staging)
        save_repository(lm.model, staging)
        save_hook_layers(lm.model, staging)
        for name, text in (extra_files or {}).items():
            (staging / name).write_text(text, encoding="utf-8")
        if not any(staging.glob("*.safetensors")):
            raise OSError(f"saving to {out} wrote no .safetensors weights")
        if out.exists():
            out.rmdir()
        (staging / STAGING_MARK).unlink()
        give_new_modes(staging)  # for sharing: not mkdtemp's 0700 nor safetensors' 0600
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out
