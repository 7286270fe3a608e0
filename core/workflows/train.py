"""The training job of trained editors (MEND, KE, InstructEdit, RECIPE).

``train_editor`` trains a method's editor network for the loaded model on edit requests
for ``steps`` (by default the budget its preset was chosen with: ``presets.training_steps``),
reporting each step through ``Progress`` (``loss``, ``edit_nll``, ``edit_acc``, ``kl``
as values for live curves) and checking for a cancel before each step. Every
``save_every`` steps and at the end it writes the checkpoint (``core.methods.editor_ckpt``:
editor and optimiser state, the record with the model's fingerprint, the data's hash, the
hyperparameters, library versions, losses and validation figures) atomically, so a crash
leaves the last checkpoint whole; a cancel first saves one at the last finished step, so
no finished step is lost. ``resume`` continues from the checkpoint at
``out`` (same model, same data, its hyperparameters); the requests of step k depend on
(seed, k) alone, so a resumed run sees the same sequence as an uninterrupted one.

A method whose hyperparameters have ``lr_decay`` ("cosine" or "linear"; KE's) has every
rate of its optimiser scaled down over the run, to ~0 at the last of ``steps``; the initial
rates are kept in the optimiser state, so a resume continues the schedule, though one to a
new ``steps`` follows the schedule of the new total from then on.

Validation (``val_facts``, every ``val_every`` steps and at the end): single edits of the
first ``val_size`` requests by the editor as it is, teacher-forced reliability,
generality and locality (``core.metrics``). With ``keep="best"`` the checkpoint also
keeps the validated editor that best met the verdict's targets, and edits with it
(``core.workflows.train_keep``, where the measurements say why it is not the default);
training resumes from the last one either way.

A method is trainable when it offers ``new_editor``, ``load_editor``, ``optimizer``,
``batch``, ``train_step`` and ``editor_delta`` (``core.methods.mend.MendMethod``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.facts.fact import Fact
from core.facts.split import training_split
from core.methods import get_method, method_names, resolve_hparams
from core.methods.base import EditError, check_optimiser
from core.methods.editor_ckpt import (
    Checkpoint,
    CheckpointError,
    EditorRecord,
    check_checkpoint_path,
    default_checkpoint,
    library_versions,
    read_checkpoint,
    recorded_hparams,
    save_checkpoint,
)
from core.methods.hparams import as_dict
from core.methods.presets import training_steps
from core.model.loading import LoadedModel
from core.util.pid_lock import LockedError, PidLock
from core.util.progress import Cancelled, Progress, RateMeter, silent
from core.workflows.train_keep import KEEPS, KeptEditor

log = logging.getLogger(__name__)

TRAINABLE_API = ("new_editor", "load_editor", "optimizer", "batch", "train_step", "editor_delta")
LR_DECAYS = ("none", "cosine", "linear")


@dataclass(frozen=True)
class TrainOptions:
    steps: int | None = None  # None: the budget the method's preset was chosen with (presets.training_steps)
    save_every: int = 50
    val_every: int = 100
    val_size: int = 20
    resume: bool = False
    keep: str | None = None  # the editor that edits: "last", or "best" validated (train_keep); None: a resumed
    # run's own choice, else "last"
    replace: bool = False  # a fresh run may replace a checkpoint already at the path (trial 46: silently did)


@dataclass(frozen=True)
class TrainResult:
    path: Path
    record: EditorRecord
    resumed_from: int  # the step a resumed run started at (0: a fresh run)
    notes: tuple[str, ...] = ()  # requests the split rule left out (core.facts.split)
    trained_on: int = 0  # training requests used


def facts_sha256(facts: Sequence[Fact]) -> str:
    digest = hashlib.sha256()
    for fact in facts:
        digest.update(fact.canonical_json().encode("utf-8") + b"\n")
    return digest.hexdigest()


def is_trainable(name: str) -> bool:
    """Whether the registry's method ``name`` is a trained editor (offers ``TRAINABLE_API``)."""
    method = get_method(name)
    return all(hasattr(method, attr) for attr in TRAINABLE_API)


def trainable_methods() -> list[str]:
    """The registry's trained editors, in its order (each method's module is imported)."""
    return [name for name in method_names() if is_trainable(name)]


def trainable_method(name: str):
    if not is_trainable(name):
        raise EditError(f"{name} is not a trained editor; trainable: {', '.join(trainable_methods())}")
    return get_method(name)


def lr_factor(decay: str, step: int, total: int) -> float:
    """The share of the initial rates used at ``step`` (1-based) of ``total``: 1 for "none";
    "cosine" and "linear" fall from 1 at the first step to 1/total or less at the last."""
    if decay not in LR_DECAYS:
        raise EditError(f"lr_decay {decay!r} is not one of {', '.join(LR_DECAYS)}")
    done = (step - 1) / total
    if decay == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * done))
    return 1.0 - done if decay == "linear" else 1.0


def _scale_rates(optimizer, factor: float) -> None:
    """Every parameter group's rate set to ``factor`` times its initial one (kept in the
    group, so it survives a checkpoint and a resume)."""
    for group in optimizer.param_groups:
        group.setdefault("initial_lr", group["lr"])
        group["lr"] = group["initial_lr"] * factor


def default_training_steps(lm: LoadedModel, method_name: str) -> int:
    """The budget ``train_editor`` uses when ``TrainOptions.steps`` is None (the preset's)."""
    return training_steps(trainable_method(method_name).name, lm)


def resolved_options(lm: LoadedModel, method_name: str, options: TrainOptions, recorded_total: int = 0) -> TrainOptions:
    """``options`` with a budget where it names none: a resumed run's own (``recorded_total``),
    else the preset's, so a resume keeps its schedule; refused when not positive."""
    if options.steps is None:
        steps = recorded_total or default_training_steps(lm, method_name)
        options = dataclasses.replace(options, steps=steps)
    if options.steps < 1 or options.save_every < 1 or options.val_every < 1 or options.val_size < 1:
        raise EditError("steps, save_every, val_every and val_size must be positive")
    return options


def _check_training_hparams(name: str, hp) -> None:
    """Counts and rates every trained method shares, checked before the first step (review 47:
    edits_per_step 0 failed with "error: loss", a negative lr trained by gradient ascent, and
    edit_scale 0 failed only at the first validation)."""
    values = as_dict(hp)
    positive = [(k, values[k]) for k in ("lr", "rank", "edit_scale") if isinstance(values.get(k), int | float)]
    check_optimiser(name, ("edits_per_step", values.get("edits_per_step", 1)), *positive)
    if values.get("locality_probes", 0) < 0:
        raise EditError(f"{name}: locality_probes is {values['locality_probes']}; it must be 0 or more")


def _resumed_hparams(method, record: EditorRecord, asked, overridden: frozenset[str]):
    """The hyperparameters the checkpoint was trained with; refused where the run's overrides
    (``overridden`` of ``asked``) set one otherwise (review 47: a resume dropped --set values)."""
    recorded = recorded_hparams(method.hparams_class, record)
    changed = [k for k in sorted(overridden) if as_dict(recorded).get(k) != as_dict(asked).get(k)]
    if changed:
        said = ", ".join(f"{k} {as_dict(recorded)[k]!r} (asked {as_dict(asked)[k]!r})" for k in changed)
        raise EditError(f"the checkpoint was trained with {said}; a resume continues with its own "
                        "hyperparameters: leave those settings out, or start a new checkpoint")
    return recorded


def _start(lm: LoadedModel, method, facts, hp, out: Path, resume: bool, keep: str | None,
           overridden: frozenset[str] = frozenset()):
    """(hparams, editor, optimizer, record, kept editor) of a fresh run, or of the checkpoint resumed;
    ``keep`` None: the resumed run's own choice."""
    import torch

    data_hash = facts_sha256(facts)
    if resume and not out.is_file():  # a mistyped path would spend the whole budget again (review 47)
        raise EditError(f"no checkpoint at {out} to resume: name the checkpoint to continue, or leave out "
                        "resume to train a new one")
    if resume:
        ckpt = read_checkpoint(out, method.name, lm.info.fingerprint)
        if ckpt.record.data_sha256 != data_hash:
            raise CheckpointError(f"{out} was trained on other data (sha256 {ckpt.record.data_sha256[:12]}, "
                                  f"these facts {data_hash[:12]}; the hash covers the requests the split rule "
                                  "keeps, so a checkpoint an earlier version trained on evaluation subjects differs "
                                  "too): resume with the same files or start afresh")
        hp = _resumed_hparams(method, ckpt.record, hp, overridden)
        editor = method.load_editor(lm, ckpt).train()
        optimizer = method.optimizer(editor, hp)
        if ckpt.optimizer is not None:
            optimizer.load_state_dict(ckpt.optimizer)
        record = dataclasses.replace(ckpt.record, keep=keep or ckpt.record.keep)
        kept = KeptEditor.resumed(ckpt, editor) if record.keep == "best" else KeptEditor()
        return hp, editor, optimizer, record, kept
    torch.manual_seed(hp.seed)
    editor = method.new_editor(lm, hp).train()
    record = EditorRecord(method.name, lm.info.fingerprint, lm.info.name, data_hash, as_dict(hp), 0,
                          versions=library_versions(), keep=keep or "last")
    return hp, editor, method.optimizer(editor, hp), record, KeptEditor()


def validate(lm: LoadedModel, method, editor, hp, facts: Sequence[Fact]) -> dict[str, float]:
    """Mean teacher-forced reliability, generality and locality of single edits of ``facts``."""
    from core.metrics.evaluation import capture_reference, evaluate
    from core.metrics.results import aggregate

    reference = capture_reference(lm, facts)
    reports = [evaluate(lm, [f], edit=method.editor_delta(lm, editor, [f], hp), reference=reference,
                        protocols=("teacher_forced",)) for f in facts]
    summary = aggregate(reports)
    return {k: round(v, 4) for k in ("reliability", "generality", "locality") if (v := summary.get(k)) is not None}


def _validation(lm, method, editor, hp, val, step: int, total: int, progress: Progress) -> dict:
    figures = {"step": step, **validate(lm, method, editor, hp, val)}
    log.info("%s validation at step %d: %s", method.name, step, figures)
    progress.report(step, total, f"{method.name} validation at step {step}",
                    **{f"val_{k}": v for k, v in figures.items() if k != "step"})
    return figures


def _save(out: Path, record: EditorRecord, state: dict, step: int, started: float, editor, optimizer) -> EditorRecord:
    """Write the checkpoint at ``step`` (atomically), with the kept editor where it is another; its record."""
    state["seconds"] = round(time.perf_counter() - started, 2)
    best_step, best = state["kept"].stored(step)
    record = dataclasses.replace(record, step=step, losses=tuple(state["losses"]),
                                 validation=tuple(state["validation"]), seconds=state["seconds"], best_step=best_step)
    save_checkpoint(out, Checkpoint(record, editor.state_dict(), optimizer.state_dict(), best))
    return record


def train_editor(lm: LoadedModel, method_name: str, facts: Sequence[Fact], val_facts: Sequence[Fact] = (),
                 options: TrainOptions | None = None, out: Path | None = None,
                 overrides: Mapping[str, Any] | None = None, progress: Progress | None = None) -> TrainResult:
    """Train (or resume) the editor; returns where the checkpoint is and its record. Each step
    reports its figures and the rate (``rate`` steps/s, ``seconds_left``) for live displays.
    While it runs, ``<checkpoint>.lock`` names this process: another process training the same
    checkpoint is refused rather than overwriting it step by step. Requests about evaluation
    subjects, and validation requests that are training ones, are left out and said
    (``core.facts.split``)."""
    if not facts:
        raise EditError("no training facts")
    split = training_split(facts, val_facts)
    if not split.train:
        raise EditError(f"no training requests left: all {len(facts)} are about subjects reserved for evaluation "
                        "(SHA-256 of the name starts with c-f), which are never trained on")
    for note in split.notes:
        log.warning("%s", note)
    method = trainable_method(method_name)
    options = options or TrainOptions()
    out = Path(out) if out is not None else default_checkpoint(method.name, lm.info.fingerprint)
    _refused_before_training(out, options, split, bool(val_facts))
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        lock = PidLock(out, "factsmith train").acquire()
    except LockedError as exc:
        raise EditError(f"{out} is being trained by {exc.holder.describe()}: wait for it to finish, or train "
                        "into another checkpoint") from None
    try:
        result = _train(lm, method, split.train, split.validation, options, out, overrides, progress or silent())
        return dataclasses.replace(result, notes=split.notes + result.notes, trained_on=len(split.train))
    finally:
        lock.release()


def _one_step(lm: LoadedModel, method, editor, optimizer, facts: Sequence[Fact], hp, step: int, steps: int,
              decay: str) -> dict[str, float]:
    """One optimiser step over step ``step``'s requests, at the schedule's rate; its figures."""
    optimizer.zero_grad(set_to_none=True)
    figures = method.train_step(lm, editor, method.batch(facts, step - 1, hp), hp)
    _scale_rates(optimizer, lr_factor(decay, step, steps))
    optimizer.step()
    return figures


def _fresh_optimiser_note(out: Path) -> tuple[str, ...]:
    """A resumed checkpoint without optimiser state trains on with a fresh Adam: said, not silent."""
    note = (f"{out} holds no optimiser state: training resumed with a fresh optimiser (Adam's running averages "
            "start again, so the first steps may move the editor more than the run's last ones did)")
    log.warning("%s", note)
    return (note,)


def _refused_before_training(out: Path, options: TrainOptions, split, validation_given: bool) -> None:
    """What is refused before the lock is taken or a step spent (review: a .json checkpoint was
    refused only at the first save, after the steps before it)."""
    if options.keep not in (None, *KEEPS):
        raise EditError(f"keep {options.keep!r} is not one of {', '.join(KEEPS)}")
    check_checkpoint_path(out)
    if not options.resume and not options.replace and out.is_file():
        raise EditError(f"{out} already holds a checkpoint: resume it, or replace it (factsmith train --force), or "
                        "train into another file")
    if validation_given and not split.validation and options.keep == "best":
        raise EditError("keeping the best validated editor needs validation requests, and the split rule left none "
                        "of the given ones: " + "; ".join(split.notes))


def _train(lm: LoadedModel, method, facts: Sequence[Fact], val_facts: Sequence[Fact], options: TrainOptions,
           out: Path, overrides: Mapping[str, Any] | None, progress: Progress) -> TrainResult:
    hp, editor, optimizer, record, kept = _start(lm, method, facts, resolve_hparams(lm, method.name, overrides),
                                                 out, options.resume, options.keep, frozenset(overrides or {}))
    _check_training_hparams(method.name, hp)
    fresh = _fresh_optimiser_note(out) if options.resume and not optimizer.state_dict()["state"] else ()
    if record.keep == "best" and not val_facts:
        raise EditError("keeping the best validated editor needs validation requests (--val FILE)")
    options = resolved_options(lm, method.name, options, record.total_steps)  # a resumed run's own budget
    record = dataclasses.replace(record, total_steps=options.steps)
    resumed_from, val = record.step, list(val_facts)[: options.val_size]
    decay = getattr(hp, "lr_decay", "none")  # a method's hyperparameter, where it has one
    lr_factor(decay, 1, options.steps)  # an unknown schedule fails before the first step
    state = {"losses": list(record.losses), "validation": list(record.validation), "seconds": record.seconds,
             "kept": kept}
    started, meter = time.perf_counter() - record.seconds, RateMeter(options.steps, "steps", "step", start=record.step,
                                                                  warmup=1)
    completed = record.step
    try:
        for step in range(record.step + 1, options.steps + 1):
            progress.check()
            figures = _one_step(lm, method, editor, optimizer, facts, hp, step, options.steps, decay)
            state["losses"].append(round(figures["loss"], 6))
            completed = step
            meter.mark(step)
            progress.report(step, options.steps, f"{method.name}: loss {figures['loss']:.4f} · {meter.text(step)}",
                            **figures, **meter.values(step))
            done = step == options.steps
            if val and (done or step % options.val_every == 0):
                state["validation"].append(_validation(lm, method, editor, hp, val, step, options.steps, progress))
                if record.keep == "best":
                    state["kept"].offer(step, state["validation"][-1], editor)
            if done or step % options.save_every == 0:
                record = _save(out, record, state, step, started, editor, optimizer)
    except Cancelled:
        if completed > record.step:  # the steps since the last checkpoint are kept, not lost
            _save(out, record, state, completed, started, editor, optimizer)
            log.info("%s: cancelled; checkpoint saved at step %d", method.name, completed)
        raise
    if resumed_from >= options.steps:  # nothing ran (already trained that far)
        log.info("%s: %s already has %d steps", method.name, out, record.step)
    return TrainResult(out, record, resumed_from, notes=fresh)
