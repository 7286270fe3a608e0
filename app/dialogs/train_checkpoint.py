"""What a checkpoint path holds, as the Train editor dialog says it (no widgets here)."""

from __future__ import annotations

import re
from pathlib import Path

from core import CheckpointError, EditorRecord, LoadedModel, editors_dir, read_record


def is_default_place(path: Path) -> bool:
    """A checkpoint path ``default_checkpoint`` makes (some method, some model's 16 hex digits)."""
    return (path.parent == editors_dir()
            and re.fullmatch(r"[a-z-]+-[0-9a-f]{16}\.safetensors", path.name) is not None)


def checkpoint_state(path: Path | None, lm: LoadedModel | None,
                     method: str) -> tuple[str, bool, EditorRecord | None]:
    """(what to say, whether it is a problem, the record when Resume can continue it)."""
    if lm is None:
        return "Load a model first: an editor is trained for one model", True, None
    if path is None:
        return "Choose where the checkpoint goes", True, None
    if not path.exists():
        return "No checkpoint there yet: Start trains a new one", False, None
    try:
        record = read_record(path)
    except CheckpointError as exc:
        return f"{exc}: Start replaces it", True, None
    if record.method != method:
        return f"It holds a {record.method} editor, not a {method} one: Start replaces it", True, None
    if record.fingerprint != lm.info.fingerprint:
        return (f"Fingerprint mismatch: trained for {record.model_name} ({record.fingerprint[:16]}), not the "
                "loaded model: Start replaces it", True, None)
    loss = f", loss {record.losses[-1]:.4f}" if record.losses else ""
    return f"Checkpoint at step {record.step}{loss}: Resume continues it; Start replaces it", False, record


def kept_text(record) -> str:
    """The validation of the editor that edits, and its step when it is not the last one."""
    val = ", ".join(f"{k} {v:.3f}" for k, v in record.editing_validation.items() if k != "step")
    if record.editing_step != record.step:
        return (f"; edits with the editor of step {record.editing_step}, whose validation best met the targets"
                + (f" ({val})" if val else ""))
    return f"; validation {val}" if val else ""
