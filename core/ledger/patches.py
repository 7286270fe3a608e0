"""Patches: one zip file carrying a commit range's edits, to replay on the same base model.

``manifest.json`` holds the base model's fingerprint and folder identity, the range's start
and end states, the commits, and for each edit its facts, method, hyperparameters, metrics,
delta hash and delta file hash, chained (``core.ledger.patch_checks``); ``signature.json``
the author's signature over the manifest (``core.ledger.patch_sign``);
``deltas/<sha256>.safetensors`` the deltas. Applying checks the signature, the chain, each
delta's header, hash and shapes, and the model against the start state (rehashing it in
full) before touching any weight, replays the deltas in order, checks the result against
the weights fingerprints the patch carries, and writes a Hugging Face folder (with a
``factsmith.json`` marker, so patches chain).
"""

from __future__ import annotations

import hashlib
import json
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.edit.deltas import Delta
from core.ledger.db import Store, now
from core.ledger.deltastore import delta_bytes
from core.ledger.errors import PatchError
from core.ledger.materialise import MARKER, check_out_folder, replay, save_folder, weights_key
from core.ledger.patch_archive import (
    MANIFEST,
    MAX_DELTA_BYTES,
    MAX_MANIFEST_BYTES,
    MAX_SIGNATURE_BYTES,
    PATCH_FORMAT,
    PATCH_VERSION,
    SIGNATURE,
    check_members,
    parse_manifest,
    read_member,
)
from core.ledger.patch_checks import broken_link, check_fits, describe_edit, load_delta, seal
from core.ledger.patch_measure import EditHeld, measured_replay
from core.ledger.patch_sign import PatchTrust, Signer, check_signature, sign_manifest
from core.ledger.queue import fact_records
from core.ledger.records import BaseModel, PatchApplied, PatchInfo
from core.ledger.refs import resolve
from core.ledger.runs import get_run
from core.ledger.state import base_model, delta_hashes, state_fingerprint, state_runs
from core.model.fingerprint import folder_fingerprint, folder_identity
from core.model.fingerprint import state_fingerprint as weights_fingerprint
from core.util.atomic import replacing
from core.util.progress import Progress, silent
from core.util.signing import KeyStore

log = logging.getLogger(__name__)

__all__ = ["MANIFEST", "PATCH_FORMAT", "PATCH_VERSION", "PatchTrust", "SignedPatchApplied", "apply_patch",
           "describe_edit", "export_patch", "patch_signer", "read_patch"]


@dataclass(frozen=True)
class SignedPatchApplied(PatchApplied):
    signer: dict[str, Any] | None = None  # Signer.to_dict(); None: unsigned, applied as allowed
    held: tuple[EditHeld, ...] = ()  # each edit measured on the patched model

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "held": [h.to_dict() for h in self.held]}


@dataclass(frozen=True)
class _Contents:
    manifest: dict[str, Any]
    deltas: list[Delta]
    signer: Signer | None


def _edit_entry(store: Store, run_id: int) -> dict[str, Any]:
    run = get_run(store, run_id)
    return {"run": run.id, "method": run.method, "hparams": run.hparams, "overrides": run.overrides,
            "seed": run.seed, "environment": run.environment, "metrics": run.metrics, "author": run.author,
            "created_at": run.created_at, "facts": [r.fact.to_dict() for r in fact_records(store, run.fact_ids)],
            "delta_sha256": run.delta_sha256, "delta_file": f"deltas/{run.delta_sha256}.safetensors"}


def _weights(store: Store, states: list[str]) -> list[dict[str, str]]:
    return store.all("SELECT state_fingerprint, dtype, device, weights_fingerprint FROM weights "
                     "WHERE state_fingerprint IN (SELECT value FROM json_each(?))", (json.dumps(states),))


def _base_entry(base: BaseModel) -> dict[str, str]:
    """The base's name and fingerprint, and its folder identity when the folder is still there."""
    entry = {"name": base.name, "fingerprint": base.fingerprint, "architecture": base.architecture}
    try:
        if folder_fingerprint(Path(base.path)) == base.fingerprint:
            entry["identity"] = folder_identity(Path(base.path))
    except OSError:
        pass
    if "identity" not in entry:
        log.warning("base folder %s is gone or changed; the patch will not pin its config and tokenizer", base.path)
    return entry


def build_manifest(store: Store, from_ref: str, to_ref: str) -> dict[str, Any]:
    a, b = resolve(store, from_ref), resolve(store, to_ref)
    if a.seq > b.seq:
        raise PatchError(f"--from {from_ref} ({a.short_id}) is later than --to {to_ref} ({b.short_id})")
    runs_a, runs_b = state_runs(store, a), state_runs(store, b)
    if runs_b[: len(runs_a)] != runs_a:
        raise PatchError(f"between {a.short_id} and {b.short_id} some edits of {a.short_id} were reverted, so the "
                         f"range cannot be replayed on a checkout of {a.short_id}; export from ROOT instead")
    if len(runs_b) == len(runs_a):  # trial 45: an empty patch was written without a word
        raise PatchError(f"{a.short_id}..{b.short_id} adds no edit: a patch of it would change nothing "
                         "(choose a later --to, or an earlier --from)")
    commits = store.all("SELECT id, kind, author, message, created_at FROM commits WHERE seq > ? AND seq <= ? "
                        "ORDER BY seq", (a.seq, b.seq))
    return {
        "format": PATCH_FORMAT, "version": PATCH_VERSION, "created_at": now(), "created_by": store.author,
        "base": _base_entry(base_model(store)),
        "from": {"commit": a.id, "state_fingerprint": a.state_fingerprint,
                 "delta_hashes": delta_hashes(store, runs_a)},
        "to": {"commit": b.id, "state_fingerprint": b.state_fingerprint},
        "commits": commits,
        "edits": [_edit_entry(store, r) for r in runs_b[len(runs_a):]],
        "weights": _weights(store, [a.state_fingerprint, b.state_fingerprint]),
    }


def _sealed(manifest: dict[str, Any], deltas: dict[str, bytes]) -> dict[str, Any]:
    """The manifest, JSON-normalised (what a reader will see), with delta file hashes and the chain."""
    manifest = json.loads(json.dumps(manifest, ensure_ascii=False))
    for edit in manifest["edits"]:
        data = deltas[edit["delta_file"]]
        edit["delta_file_sha256"], edit["delta_size"] = hashlib.sha256(data).hexdigest(), len(data)
    seal(manifest)
    return manifest


def export_patch(store: Store, out: str | Path, from_ref: str = "ROOT", to_ref: str = "HEAD",
                 keys: KeyStore | None = None) -> PatchInfo:
    """Write the edits between two commits (default: all of HEAD) as one patch file, signed
    with the user's author key when there is one."""
    out = Path(out)
    with store.reading():
        manifest = build_manifest(store, from_ref, to_ref)
        deltas = {e["delta_file"]: delta_bytes(store, e["delta_sha256"]) for e in manifest["edits"]}
    manifest = _sealed(manifest, deltas)
    manifest_bytes = json.dumps(manifest, indent=1, ensure_ascii=False).encode()
    signed = sign_manifest(manifest_bytes, keys)
    with replacing(out) as temp, zipfile.ZipFile(temp, "w") as archive:
        archive.writestr(MANIFEST, manifest_bytes, compress_type=zipfile.ZIP_DEFLATED)
        if signed is not None:
            archive.writestr(SIGNATURE, signed[0], compress_type=zipfile.ZIP_STORED)
        for name, data in deltas.items():
            archive.writestr(name, data, compress_type=zipfile.ZIP_STORED)
    if signed is None:
        log.warning("%s is unsigned: there is no author key (make one with `factsmith keys init`)", out)
    return PatchInfo(str(out), manifest["base"]["fingerprint"], manifest["from"]["commit"],
                     manifest["to"]["commit"], manifest["to"]["state_fingerprint"], len(manifest["edits"]),
                     out.stat().st_size)


def _read(path: Path, trust: PatchTrust | None) -> _Contents:
    """Members, manifest, chain, signature (unless ``trust`` is None), then the deltas."""
    try:
        with zipfile.ZipFile(path) as archive:
            check_members(path, archive)
            manifest_bytes = read_member(path, archive, MANIFEST, MAX_MANIFEST_BYTES)
            manifest = parse_manifest(path, manifest_bytes)
            _check_chain(path, manifest)  # first, so an edit altered in place is named, not just "bad signature"
            signature = read_member(path, archive, SIGNATURE, MAX_SIGNATURE_BYTES)
            signer = None if trust is None else check_signature(path, manifest_bytes or b"", signature, trust)
            edits = manifest["edits"]
            deltas = [_delta(path, archive, i, e, manifest["version"], len(edits)) for i, e in enumerate(edits)]
    except FileNotFoundError:
        raise PatchError(f"no patch file {path}: check the path (patches are made with `factsmith patch "
                         "export`)") from None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise PatchError(f"{path} is not a readable Factsmith patch: {exc}") from None
    return _Contents(manifest, deltas, signer)


def read_patch(path: str | Path) -> tuple[dict[str, Any], list[Delta]]:
    """The manifest and the deltas, each checked against the hashes the manifest records
    (the signature is not checked here: ``apply_patch`` does, and ``patch_signer`` says whose it is)."""
    contents = _read(Path(path), None)
    return contents.manifest, contents.deltas


def patch_signer(path: str | Path, keys: KeyStore | None = None) -> Signer | None:
    """Who signed the patch (verified; ``trusted`` says whether the user trusts them), or None."""
    return _read(Path(path), PatchTrust(allow_unsigned=True, allow_untrusted=True, keys=keys)).signer


def _check_chain(path: Path, manifest: dict[str, Any]) -> None:
    edits = manifest["edits"]
    broken = broken_link(manifest) if manifest["version"] >= 2 else None
    where = "" if broken is None else (
        f" ({describe_edit(edits[broken], broken, len(edits))} breaks the patch's hash chain)" if broken < len(edits)
        else " (its commits or weights records break the patch's hash chain)")
    hashes = manifest["from"]["delta_hashes"] + [e["delta_sha256"] for e in edits]
    if state_fingerprint(manifest["base"]["fingerprint"], hashes) != manifest["to"]["state_fingerprint"]:
        raise PatchError(f"{path.name}: its edits do not add up to the end state it records{where}; "
                         "the file was altered")
    if broken is not None:
        raise PatchError(f"{path.name}: {where.strip(' ()')}: an edit was altered, dropped or moved")
    if manifest["version"] < 2:
        log.warning("%s is a version 1 patch: its edits' details are not bound by a hash chain", path.name)


def _delta(path: Path, archive: zipfile.ZipFile, index: int, edit: dict[str, Any], version: int,
           total: int) -> Delta:
    what = describe_edit(edit, index, total)
    data = read_member(path, archive, edit["delta_file"], MAX_DELTA_BYTES)
    if data is None:
        raise PatchError(f"{path.name}: {what}: its delta {edit['delta_file']} is missing")
    return load_delta(path, what, data, edit, version)


def _check_base(manifest: dict[str, Any], model_dir: Path) -> None:
    """The fingerprint alone decides here, so every weight file is rehashed in full."""
    base = manifest["base"]
    found = folder_fingerprint(model_dir, rehash=True)
    if found != base["fingerprint"]:
        raise PatchError(f"model {model_dir} has fingerprint {found[:12]}, but this patch applies to base model "
                         f"{base['name']} with fingerprint {base['fingerprint'][:12]}")
    if "identity" in base and folder_identity(model_dir) != base["identity"]:
        raise PatchError(f"model {model_dir} has the weights of base model {base['name']}, but its config.json or "
                         "tokenizer files differ from the folder the patch was made on")


def _check_start(manifest: dict[str, Any], model_dir: Path) -> dict[str, Any] | None:
    """Refuse a model that is not the patch's start state; the checkout marker when it is one."""
    if not model_dir.is_dir():
        raise PatchError(f"{model_dir} is not a folder; choose the model folder this patch applies to "
                         f"(base model {manifest['base']['name']})")
    if not manifest["from"]["delta_hashes"]:
        _check_base(manifest, model_dir)
        return None
    try:
        marker = json.loads((model_dir / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        marker = {}
    if not isinstance(marker, dict) or marker.get("state_fingerprint") != manifest["from"]["state_fingerprint"] \
            or marker.get("base_fingerprint") != manifest["base"]["fingerprint"]:
        raise PatchError(f"model {model_dir} is not a checkout of commit {manifest['from']['commit'][:12]}, where "
                         f"this patch starts; check that commit out (factsmith checkout REF --out DIR) first")
    return marker


def _check_loaded(lm, manifest: dict[str, Any], marker: dict[str, Any] | None, model_dir: Path,
                  verify_weights: bool) -> None:
    """The loaded weights are the start state's: by the base fingerprint, or the checkout's record."""
    if marker is None:
        if lm.info.fingerprint != manifest["base"]["fingerprint"]:  # changed between the check and the load
            raise PatchError(f"model {model_dir}: its weights changed while it was being loaded")
        return
    if (marker.get("dtype"), marker.get("device")) == weights_key(lm):
        if weights_fingerprint(lm.model) != marker.get("weights_fingerprint"):
            raise PatchError(f"model {model_dir}: its weights changed since it was checked out")
    elif verify_weights:
        raise PatchError(f"model {model_dir}: --verify-weights needs it loaded as {marker.get('dtype')} on "
                         f"{marker.get('device')}, the dtype and device its checkout recorded")


def _verify_result(path: Path, manifest: dict[str, Any], lm) -> tuple[str, bool]:
    found, key = weights_fingerprint(lm.model), weights_key(lm)
    to_state = manifest["to"]["state_fingerprint"]
    expected = [w["weights_fingerprint"] for w in manifest["weights"]
                if w["state_fingerprint"] == to_state and (w["dtype"], w["device"]) == key]
    if expected and expected[0] != found:
        raise PatchError(f"{path.name}: the patched weights fingerprint {found[:12]}, but the patch records "
                         f"{expected[0][:12]} for {key[0]} on {key[1]}")
    return found, bool(expected)


def _marker(path: Path, manifest: dict[str, Any], found: str, key: tuple[str, str], runs: int) -> dict[str, Any]:
    return {"factsmith_checkout": 1, "patch": path.name, "commit": manifest["to"]["commit"],
            "state_fingerprint": manifest["to"]["state_fingerprint"],
            "base_fingerprint": manifest["base"]["fingerprint"], "base_model": manifest["base"]["name"],
            "weights_fingerprint": found, "dtype": key[0], "device": key[1], "runs": runs}


def apply_patch(path: str | Path, model_dir: str | Path, out: str | Path, options=None,
                progress: Progress | None = None, trust: PatchTrust | None = None,
                verify_weights: bool = False) -> SignedPatchApplied:
    """Replay a patch on a model folder and write the result to ``out``; nothing is written
    unless the signature (see ``PatchTrust``), every delta and the start model check out."""
    from core.model.loading import load_model

    progress, path, model_dir = progress or silent(), Path(path), Path(model_dir)
    check_out_folder(out)  # a taken --out is refused before anything is read, announced or loaded
    contents = _read(path, trust or PatchTrust())
    manifest, deltas = contents.manifest, contents.deltas
    if contents.signer is None:
        log.warning("%s is unsigned; applying it because unsigned patches were allowed", path.name)
    marker = _check_start(manifest, model_dir)
    lm = load_model(model_dir, options, progress.stage(0.0, 0.35))
    _check_loaded(lm, manifest, marker, model_dir, verify_weights)
    edits = manifest["edits"]
    check_fits(lm.model, deltas, [describe_edit(e, i, len(edits)) for i, e in enumerate(edits)])
    held = measured_replay(lm, manifest, path.name, progress.stage(0.35, 0.9),
                           lambda: replay(lm, deltas, progress.stage(0.45, 0.55)))
    found, verified = _verify_result(path, manifest, lm)
    key = weights_key(lm)
    signer = contents.signer.to_dict() if contents.signer else None
    result = SignedPatchApplied(str(path), str(model_dir), str(Path(out).resolve()),
                                manifest["to"]["state_fingerprint"], found, key[0], key[1], verified, len(deltas),
                                lm, signer, held)
    save_folder(lm, Path(out), _marker(path, manifest, found, key, len(manifest["from"]["delta_hashes"])
                                       + len(deltas)))
    progress.report(1.0, 1.0, "patched")
    return result
