"""Checkout: a commit's weights, rebuilt from the base by replaying its deltas in order.

Edits do not commute, so a state is always rebuilt from the base weights, never by
subtracting. The result is fingerprinted bit for bit (``core.model.fingerprint.state_fingerprint``)
and checked against the fingerprint recorded the first time that state was built with the
same dtype and device type (the float arithmetic differs between devices and dtypes); the
first build records it. Only builds from a freshly loaded base folder record anything.
"""

from __future__ import annotations

import json
import logging
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.edit.deltas import Delta
from core.edit.replay import Replayed, ReplayError, replay_deltas, undo_replay
from core.ledger.db import Store, now
from core.ledger.deltastore import get_deltas
from core.ledger.errors import LedgerError, VerificationError
from core.ledger.records import CommitRecord, Materialised
from core.ledger.refs import resolve
from core.ledger.state import base_model, delta_hashes, state_fingerprint, state_runs
from core.model.fingerprint import state_fingerprint as weights_fingerprint
from core.util.progress import Progress, silent

log = logging.getLogger(__name__)

MARKER = "factsmith.json"  # written into checkout folders: which state the weights are


def weights_key(lm) -> tuple[str, str]:
    """(dtype, device type) under which a weights fingerprint is comparable."""
    first = next(lm.model.parameters())
    return str(first.dtype).removeprefix("torch."), first.device.type


def load_base(store: Store, model_dir: str | Path | None = None, options=None, progress: Progress | None = None):
    """The workspace's base model, loaded fresh; refuses a folder with other weights."""
    from core.model.loading import load_model

    base = base_model(store)
    folder = Path(model_dir or base.path)
    lm = load_model(folder, options, progress)
    if lm.info.fingerprint != base.fingerprint:
        raise LedgerError(f"model folder {folder} has fingerprint {lm.info.fingerprint[:12]}, but this workspace's "
                          f"base model {base.name} is {base.fingerprint[:12]}")
    return lm


def recorded_weights(store: Store, state: str, key: tuple[str, str]) -> str | None:
    return store.scalar("SELECT weights_fingerprint FROM weights WHERE state_fingerprint = ? AND dtype = ? "
                        "AND device = ?", (state, *key))


def check_weights(store: Store, state: str, key: tuple[str, str], found: str, record: bool, what: str) -> bool:
    """True when ``found`` equals the recorded fingerprint; records it when there is none (and ``record``)."""
    expected = recorded_weights(store, state, key)
    if expected is None and record:
        with store.writing():
            store.db.execute("INSERT OR IGNORE INTO weights (state_fingerprint, dtype, device, weights_fingerprint, "
                             "recorded_by, recorded_at) VALUES (?, ?, ?, ?, ?, ?)", (state, *key, found,
                                                                                    store.author, now()))
        expected = recorded_weights(store, state, key)  # another process may have recorded first
        if expected == found:
            return False
    if expected is not None and expected != found:
        raise VerificationError(f"{what}: the weights ({key[0]} on {key[1]}) fingerprint {found[:12]}, but this "
                                f"state was recorded as {expected[:12]}")
    return expected is not None


def state_deltas(store: Store, commit: CommitRecord) -> list[Delta]:
    """The commit's deltas in replay order, each checked against its hash and the commit's fingerprint."""
    hashes = delta_hashes(store, state_runs(store, commit))
    if state_fingerprint(base_model(store).fingerprint, hashes) != commit.state_fingerprint:
        raise VerificationError(f"commit {commit.short_id}: its recorded state fingerprint does not match its deltas")
    return get_deltas(store, hashes)


def replay(lm, deltas: list[Delta], progress: Progress, store: Store | None = None) -> Replayed:
    """The deltas applied in order, all or nothing (``core.edit.replay``); undoable. With the
    ``store``, a delta that does not fit names its run and how to leave it out."""
    try:
        return replay_deltas(lm.model, deltas, progress)
    except ReplayError as exc:
        if store is None:
            raise
        rows = store.all("SELECT id FROM runs WHERE delta_sha256 = ? ORDER BY id", (deltas[exc.index].sha256,))
        if not rows:
            raise
        runs = ", ".join(f"run:{r['id']}" for r in rows)
        raise LedgerError(f"the delta of {runs} cannot be replayed on this model ({exc}); no state that holds it "
                          "can be built: a revert of it (`factsmith revert run:N -m TEXT`) leaves it out of HEAD"
                          ) from None


@dataclass(frozen=True)
class Built:
    lm: Any
    weights_fingerprint: str
    dtype: str
    device: str
    verified: bool
    runs: int

    def materialised(self, commit: CommitRecord, out: str | None = None) -> Materialised:
        return Materialised(commit, self.weights_fingerprint, self.dtype, self.device, self.verified, self.runs,
                            out, self.lm)


@contextmanager
def _undone_on_failure(lm, replayed: Replayed):
    """Whatever fails after a replay on a caller's model (the fingerprint, its record: a mismatch,
    a busy workspace, a cancel) takes the replay back, so the model is the one the caller had."""
    pending = [replayed]  # the body pops it when it takes the replay back itself
    try:
        yield pending
    except BaseException:
        if lm is not None and pending:
            undo_replay(lm.model, pending.pop())
        raise


def build(store: Store, state: str, label: str, deltas: list[Delta], lm=None, model_dir=None, options=None,
          progress: Progress | None = None, loaded_fresh: bool = False) -> Built:
    """Base (fresh, or the caller's pristine ``lm``) + deltas, fingerprinted and checked against
    what was recorded for ``state``. A caller's ``lm`` is checked against the recorded base
    weights only when the result has no record to meet, or misses it: one sha256 saved. (What
    counts is the result: a stray change the additions round away leaves the recorded bits.)
    ``loaded_fresh``: the caller's ``lm`` was just loaded from the base folder, untouched, so
    its result is recorded as a build's own load would be."""
    progress = progress or silent()
    passed, fresh = lm is not None, lm is None or loaded_fresh
    lm = load_base(store, model_dir, options, progress.stage(0.0, 0.4)) if lm is None else _check_base(store, lm)
    key = weights_key(lm)
    recorded = recorded_weights(store, state, key)
    if passed and recorded is None:
        _check_pristine(store, lm)  # nothing to check the result against: check the start
    replayed = replay(lm, deltas, progress.stage(0.4, 0.9), store)
    with _undone_on_failure(lm if passed else None, replayed) as pending:  # the caller's model stays as it came
        found = weights_fingerprint(lm.model)
        if passed and recorded not in (None, found):
            undo_replay(lm.model, pending.pop())  # the start, or the log? a changed start gets its own error
            _check_pristine(store, lm)
        verified = check_weights(store, state, key, found, fresh, label)
    progress.report(1.0, 1.0, "verified" if verified else "fingerprinted")
    return Built(lm, found, key[0], key[1], verified, len(deltas))


def _check_base(store: Store, lm):
    """The caller's ``lm``, once it was loaded from this workspace's base folder."""
    base = base_model(store)
    if lm.info.fingerprint != base.fingerprint:
        raise LedgerError(f"the model passed in ({lm.info.name}) is not this workspace's base model {base.name}")
    return lm


def _check_pristine(store: Store, lm) -> None:
    """Refuses a caller's ``lm`` whose weights differ from the recorded base weights (one sha256)."""
    root = resolve(store, "ROOT")
    expected = recorded_weights(store, root.state_fingerprint, weights_key(lm))
    if expected is not None and weights_fingerprint(lm.model) != expected:
        raise VerificationError(f"the model passed in ({lm.info.name}) has been changed since it was loaded; "
                                "pass a freshly loaded base model")


def materialise(store: Store, ref: str | CommitRecord, *, lm=None, model_dir=None, options=None,
                progress: Progress | None = None, out: str | Path | None = None,
                loaded_fresh: bool = False) -> Materialised:
    """Check out a commit: in memory (``.lm``), and into a Hugging Face folder when ``out`` is given."""
    commit = resolve(store, ref) if isinstance(ref, str) else ref
    if out is not None:
        check_out_folder(out)  # before the load and the replay, not after them
    with store.reading():
        deltas = state_deltas(store, commit)
    built = build(store, commit.state_fingerprint, f"commit {commit.short_id}", deltas, lm, model_dir, options,
                  progress, loaded_fresh)
    if out is None:
        return built.materialised(commit)
    result = built.materialised(commit, str(Path(out).resolve()))
    save_folder(result.lm, Path(out), checkout_marker(store, result))
    return result


def save_loaded(store: Store, lm, ref: str | CommitRecord, out: str | Path,
                progress: Progress | None = None) -> Materialised:
    """Write ``lm``, which holds ``ref``'s state (the live model), into ``out`` as that commit's
    checkout without building a second copy from the base: a large model would need twice its
    memory. Its weights must be the ones recorded for the commit (VerificationError otherwise:
    a rebuild from the base is then the way)."""
    progress = progress or silent()
    commit = resolve(store, ref) if isinstance(ref, str) else ref
    check_out_folder(out)
    key = weights_key(lm)
    with store.reading():
        expected = recorded_weights(store, commit.state_fingerprint, key)
        runs = len(delta_hashes(store, state_runs(store, commit)))
    if expected is None:
        raise VerificationError(f"no weights are recorded for commit {commit.short_id} ({key[0]} on {key[1]}) to "
                                "check the loaded model against: build the commit from the base instead")
    found = weights_fingerprint(lm.model)
    if found != expected:
        raise VerificationError(f"the loaded model's weights ({key[0]} on {key[1]}) are not those recorded for commit "
                                f"{commit.short_id}: build the commit from the base instead")
    progress.report(0.2, 1.0, "verified")
    result = Materialised(commit, found, key[0], key[1], True, runs, str(Path(out).resolve()), lm)
    save_folder(lm, Path(out), checkout_marker(store, result))
    progress.report(1.0, 1.0, "written")
    return result


def checkout_marker(store: Store, result: Materialised) -> dict[str, Any]:
    base = base_model(store)
    return {"factsmith_checkout": 1, "workspace": str(store.path.resolve()), "commit": result.commit.id,
            "state_fingerprint": result.commit.state_fingerprint, "base_fingerprint": base.fingerprint,
            "base_model": base.name, "weights_fingerprint": result.weights_fingerprint, "dtype": result.dtype,
            "device": result.device, "runs": result.runs}


def check_out_folder(out: str | Path) -> None:
    """Refuse an ``out`` that exists and is not an empty folder (LedgerError), before any work;
    ``save_folder`` checks again."""
    from core.model.saving import check_new_folder

    try:
        check_new_folder(out)
    except OSError as exc:
        raise LedgerError(str(exc)) from exc


def save_folder(lm, out: Path, marker: dict[str, Any]) -> None:
    """Write weights (safetensors), config, tokenizer, side state (GRACE adaptors, RECIPE repository,
    COMEBA-HK hook layers) and the marker; whole or not at all."""
    from core.model.saving import save_model_folder

    try:
        save_model_folder(lm, Path(out), {MARKER: json.dumps(marker, indent=1) + "\n"})
    except (FileExistsError, OSError) as exc:
        raise LedgerError(str(exc)) from exc
    log.info("checked out %s into %s", marker.get("commit", "")[:12], out)


def advance(store: Store, lm, commit: CommitRecord, progress: Progress | None = None) -> Built:
    """``lm`` holds ``commit``'s parent state (a live model the commit was just made on): the
    commit's deltas added in order, all or nothing, instead of a rebuild from the base. The start
    must match the weights recorded for the parent (a preview that left a stray change would
    otherwise be carried into the new state; VerificationError when it does not, or when nothing
    is recorded); the result is recorded for the commit, or checked against its record."""
    progress = progress or silent()
    if commit.dropped or commit.parent_id is None:
        raise LedgerError(f"commit {commit.short_id} drops edits: build it from the base (checkout)")
    key = weights_key(lm)
    with store.reading():
        parent = resolve(store, commit.parent_id)
        deltas = get_deltas(store, delta_hashes(store, list(commit.applied)))
    start = recorded_weights(store, parent.state_fingerprint, key)
    if start is None:  # nothing to vouch for the start: the caller builds the commit from the base instead
        raise VerificationError(f"no weights are recorded for commit {parent.short_id} ({key[0]} on {key[1]}), the "
                                "state the commit was made on: check out the commit afresh")
    if weights_fingerprint(lm.model) != start:
        raise VerificationError(f"the model's weights ({key[0]} on {key[1]}) are not those recorded for commit "
                                f"{parent.short_id}, the state the commit was made on; check out the commit afresh")
    replayed = replay(lm, deltas, progress.stage(0.0, 0.8), store)
    with _undone_on_failure(lm, replayed):  # a busy workspace or a cancel, not only a mismatch (review 46)
        found = weights_fingerprint(lm.model)
        verified = check_weights(store, commit.state_fingerprint, key, found, True, f"commit {commit.short_id}")
    progress.report(1.0, 1.0, "verified" if verified else "fingerprinted")
    return Built(lm, found, key[0], key[1], verified, len(deltas))
