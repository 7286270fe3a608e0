"""Checkpoints of trained editors (MEND, KE, InstructEdit, RECIPE).

One safetensors file holds the editor's tensors (``editor::NAME``), the optimiser state
for resuming (``optim::INDEX::KEY``, its parameter groups as JSON in the metadata), the
editor kept for editing when it is not the last one (``best::NAME``: the one whose
validation best met the verdict's targets, at ``record.best_step``) and
the record (``record``, JSON in the metadata): the method, the base model's fingerprint
and name, the training data's SHA-256, the hyperparameters, the step reached, the loss
curve, the validation figures and the library versions. A readable copy of the record is
written beside it (``CKPT.json``); the file's own metadata is what loading trusts.

Writes are atomic (``core.util.atomic.replacing``): a cancel or crash leaves the previous
checkpoint whole. Loading for a model whose fingerprint differs is refused, naming both.
``editor_checkpoints`` lists the checkpoints of a method (their records only, no tensors
read) and says which the loaded model can use, and why not the others.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from core.methods.base import EditError
from core.util.atomic import replacing
from core.util.paths import cache_dir


class CheckpointError(EditError):
    """A checkpoint is missing, unreadable, or made for another model or method."""


@dataclass(frozen=True)
class EditorRecord:
    method: str
    fingerprint: str  # the base model's (lm.info.fingerprint)
    model_name: str
    data_sha256: str  # of the training facts (``facts_sha256``)
    hparams: Mapping[str, Any]
    step: int  # training steps done
    losses: tuple[float, ...] = ()  # mean training loss per step
    validation: tuple[Mapping[str, Any], ...] = ()  # {"step", figures...} per validation
    versions: Mapping[str, str] = field(default_factory=dict)
    seconds: float = 0.0  # training time so far
    total_steps: int = 0  # the run's budget, which a decaying rate spans; 0: not recorded (older checkpoints)
    best_step: int = 0  # the step of the editor kept for editing (``Checkpoint.best``); 0: the last one
    keep: str = "last"  # which editor edits: "last", or "best" validated (a resume keeps the run's choice)

    @property
    def editing_step(self) -> int:
        """The step of the editor that edits: the kept one, or the last."""
        return self.best_step or self.step

    @property
    def editing_validation(self) -> Mapping[str, Any]:
        """The validation of the editor that edits: the kept one's, or the latest ({} if none)."""
        if self.best_step:
            return next((v for v in self.validation if v.get("step") == self.best_step), {})
        return self.validation[-1] if self.validation else {}

    def to_json(self) -> str:
        data = asdict(self)
        data["losses"], data["validation"] = list(self.losses), [dict(v) for v in self.validation]
        return json.dumps(data, sort_keys=True, default=str)

    @classmethod
    def from_json(cls, text: str) -> EditorRecord:
        data = json.loads(text)
        data["losses"] = tuple(data.get("losses", ()))
        data["validation"] = tuple(data.get("validation", ()))
        return cls(**data)


@dataclass(frozen=True)
class Checkpoint:
    record: EditorRecord
    editor: Mapping[str, Any]  # name -> tensor (the editor's state_dict)
    optimizer: Mapping[str, Any] | None  # torch optimiser state_dict, or None
    best: Mapping[str, Any] | None = None  # the editor kept for editing, when not the last (record.best_step)

    @property
    def editing(self) -> Mapping[str, Any]:
        """The editor's state that edits: the kept one, or the last (which training resumes from)."""
        return self.best if self.best is not None else self.editor


def library_versions() -> dict[str, str]:
    import safetensors
    import torch
    import transformers

    try:
        factsmith = metadata.version("factsmith")
    except metadata.PackageNotFoundError:
        factsmith = "unknown"
    return {"python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "safetensors": safetensors.__version__,
            "factsmith": factsmith}


def editors_dir() -> Path:
    """The folder of the default checkpoints (listed by ``editor_checkpoints``)."""
    return cache_dir() / "editors"


def default_checkpoint(method: str, fingerprint: str) -> Path:
    """Where ``factsmith train`` writes and a method looks when no path is given."""
    return editors_dir() / f"{method}-{fingerprint[:16]}.safetensors"


def _optimizer_tensors(state: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    import torch

    tensors = {}
    for index, slots in state["state"].items():
        for key, value in slots.items():
            t = value if isinstance(value, torch.Tensor) else torch.tensor(value)
            tensors[f"optim::{index}::{key}"] = t.detach().cpu().contiguous()
    return tensors, json.dumps(state["param_groups"])


def _optimizer_state(tensors: Mapping[str, Any], groups: str | None) -> dict | None:
    if groups is None:
        return None
    state: dict[int, dict] = {}
    for name, t in tensors.items():
        if name.startswith("optim::"):
            _, index, key = name.split("::", 2)
            state.setdefault(int(index), {})[key] = t
    return {"state": state, "param_groups": json.loads(groups)}


def check_checkpoint_path(path: Path) -> Path:
    """``path``, unless it ends in .json: the readable record is written there, over the tensors (review 47)."""
    if path.suffix.lower() == ".json":
        raise CheckpointError(f"{path}: a checkpoint file ends in .safetensors, not .json (its readable record is "
                              "written beside it as .json)")
    return path


def save_checkpoint(path: Path, checkpoint: Checkpoint) -> Path:
    """Write the checkpoint (and its readable record) atomically; returns the path."""
    from safetensors.torch import save_file

    tensors = {f"editor::{k}": v.detach().cpu().contiguous() for k, v in checkpoint.editor.items()}
    tensors.update({f"best::{k}": v.detach().cpu().contiguous() for k, v in (checkpoint.best or {}).items()})
    meta = {"format": "factsmith-editor/1", "record": checkpoint.record.to_json()}
    if checkpoint.optimizer is not None:
        extra, meta["optim_groups"] = _optimizer_tensors(checkpoint.optimizer)
        tensors.update(extra)
    path = check_checkpoint_path(Path(path))
    with replacing(path) as temp:
        save_file(tensors, str(temp), metadata=meta)
    with replacing(path.with_suffix(".json")) as temp:
        temp.write_text(json.dumps(json.loads(checkpoint.record.to_json()), indent=2) + "\n", encoding="utf-8")
    return path


def read_checkpoint(path: Path, method: str, fingerprint: str | None = None) -> Checkpoint:
    """The checkpoint at ``path``; CheckpointError if missing, corrupt, of another method
    or (with ``fingerprint``) made for another model."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no trained {method} editor at {path}: train one with `factsmith train --method "
                              f"{method} --model DIR --facts FILE --out {path}`")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no __iter__)
        record = EditorRecord.from_json(meta["record"])
        optimizer = _optimizer_state(tensors, meta.get("optim_groups"))
    except (OSError, ValueError, KeyError, TypeError, SafetensorError) as exc:
        raise CheckpointError(f"{path} is not a readable editor checkpoint: {exc}") from exc
    _check_finite(path, tensors)
    if record.method != method:
        raise CheckpointError(f"{path} holds a {record.method} editor, not a {method} one")
    if fingerprint is not None and record.fingerprint != fingerprint:
        raise CheckpointError(f"{path} was trained for the model with fingerprint {record.fingerprint[:16]} "
                              f"({record.model_name}); the loaded model's fingerprint is {fingerprint[:16]}: "
                              "train an editor for this model")
    editor = {k.split("::", 1)[1]: t for k, t in tensors.items() if k.startswith("editor::")}
    best = {k.split("::", 1)[1]: t for k, t in tensors.items() if k.startswith("best::")}
    if bool(best) != bool(record.best_step) or not 0 <= record.best_step < max(record.step, 1):
        raise CheckpointError(f"{path} is not a whole editor checkpoint: its kept editor (step {record.best_step} "
                              f"of {record.step}) {'has no step' if best and not record.best_step else 'is missing'}"
                              if bool(best) != bool(record.best_step) else
                              f"{path} is not a whole editor checkpoint: it keeps the editor of step "
                              f"{record.best_step}, not before its last step {record.step}")
    return Checkpoint(record, editor, optimizer, best or None)


def recorded_hparams(hparams_class, record: EditorRecord):
    """The hyperparameters a checkpoint records, as ``hparams_class`` (JSON lists back to
    tuples); CheckpointError for a key this version does not know (a newer version's record) or
    a value of the wrong kind, not a traceback (review 47)."""
    import dataclasses

    values = {k: tuple(v) if isinstance(v, list) else v for k, v in record.hparams.items()}
    defaults = {f.name: f.default for f in dataclasses.fields(hparams_class)}
    unknown = sorted(set(values) - set(defaults))
    wrong = [k for k, v in values.items() if k in defaults and not _same_kind(v, defaults[k])]
    if unknown or wrong:
        said = (f"unknown {', '.join(unknown)}" if unknown else "") + ("; " if unknown and wrong else "")
        said += f"of the wrong kind {', '.join(f'{k}={values[k]!r}' for k in wrong)}" if wrong else ""
        raise CheckpointError(f"the {record.method} editor's record holds hyperparameters this version cannot use "
                              f"({said}): train it again with this version")
    return hparams_class(**values)


def _same_kind(value, default) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(value, int | float)
    return default is None or isinstance(value, type(default))


def _check_finite(path: Path, tensors: Mapping[str, Any]) -> None:
    """A NaN or infinite editor weight would write NaN into the model it edits (review 47)."""
    import torch

    bad = [name for name, t in tensors.items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if bad:
        raise CheckpointError(f"{path} is damaged: {', '.join(bad[:3])} hold NaN or infinite values; train it again")


def read_record(path: Path) -> EditorRecord:
    """The record of the checkpoint at ``path`` from its metadata (no tensors are read)."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no editor checkpoint at {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            return EditorRecord.from_json((f.metadata() or {})["record"])
    except (OSError, ValueError, KeyError, TypeError, SafetensorError) as exc:
        raise CheckpointError(f"{path} is not a readable editor checkpoint: {exc}") from exc


@dataclass(frozen=True)
class CheckpointEntry:
    """A checkpoint found for a method: usable by the loaded model, or the reason it is not."""

    path: Path
    record: EditorRecord | None  # None: unreadable
    problem: str = ""  # "" when the loaded model can use it

    @property
    def usable(self) -> bool:
        return not self.problem


def _entry(path: Path, method: str, fingerprint: str) -> CheckpointEntry | None:
    try:
        record = read_record(path)
    except CheckpointError as exc:
        return CheckpointEntry(path, None, f"unreadable: {exc}")
    if record.method != method:
        return None  # another method's editor: not a choice for this one
    if record.fingerprint != fingerprint:
        return CheckpointEntry(path, record, f"fingerprint mismatch: trained for {record.model_name} "
                                             f"({record.fingerprint[:16]}), not the loaded model ({fingerprint[:16]})")
    return CheckpointEntry(path, record)


def editor_checkpoints(method: str, fingerprint: str, extra: Iterable[Path | str] = ()) -> list[CheckpointEntry]:
    """The ``method`` checkpoints in ``editors_dir()`` and at ``extra`` paths (missing ones
    skipped), usable ones first (the default path leading), then the others with their problem."""
    default = default_checkpoint(method, fingerprint)
    folder = sorted(editors_dir().glob("*.safetensors")) if editors_dir().is_dir() else []
    paths = list(dict.fromkeys(Path(p).resolve() for p in [*folder, *extra] if Path(p).is_file()))
    entries = [e for p in paths if (e := _entry(p, method, fingerprint)) is not None]
    return sorted(entries, key=lambda e: (not e.usable, e.path != default.resolve(), str(e.path)))
