"""Patches: one zip file carrying a commit range's edits, to replay on the same base model.

``manifest.json`` holds the base model's fingerprint, the range's start and end states,
the commits, and for each edit its facts, method, hyperparameters, metrics and delta
hash; ``deltas/<sha256>.safetensors`` hold the deltas. Applying checks every delta against
its hash and the model against the start state before touching any weight, replays the
deltas in order, checks the result against the weights fingerprints the patch carries,
and writes a Hugging Face folder (with a ``factsmith.json`` marker, so patches chain).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from core.edit.deltas import Delta
from core.ledger.db import Store, now
from core.ledger.deltastore import delta_bytes, recorded_sha
from core.ledger.errors import PatchError
from core.ledger.materialise import MARKER, replay, save_folder, weights_key
from core.ledger.queue import fact_records
from core.ledger.records import PatchApplied, PatchInfo
from core.ledger.refs import resolve
from core.ledger.runs import get_run
from core.ledger.state import base_model, delta_hashes, state_fingerprint, state_runs
from core.model.fingerprint import folder_fingerprint
from core.model.fingerprint import state_fingerprint as weights_fingerprint
from core.util.atomic import replacing
from core.util.progress import Progress, silent

PATCH_FORMAT = "factsmith-patch"
PATCH_VERSION = 1
MANIFEST = "manifest.json"


def _edit_entry(store: Store, run_id: int) -> dict[str, Any]:
    run = get_run(store, run_id)
    return {"run": run.id, "method": run.method, "hparams": run.hparams, "overrides": run.overrides,
            "seed": run.seed, "environment": run.environment, "metrics": run.metrics, "author": run.author,
            "created_at": run.created_at, "facts": [r.fact.to_dict() for r in fact_records(store, run.fact_ids)],
            "delta_sha256": run.delta_sha256, "delta_file": f"deltas/{run.delta_sha256}.safetensors"}


def _weights(store: Store, states: list[str]) -> list[dict[str, str]]:
    return store.all("SELECT state_fingerprint, dtype, device, weights_fingerprint FROM weights "
                     f"WHERE state_fingerprint IN ({','.join('?' * len(states))})", tuple(states))


def build_manifest(store: Store, from_ref: str, to_ref: str) -> dict[str, Any]:
    a, b = resolve(store, from_ref), resolve(store, to_ref)
    if a.seq > b.seq:
        raise PatchError(f"--from {from_ref} ({a.short_id}) is later than --to {to_ref} ({b.short_id})")
    runs_a, runs_b = state_runs(store, a), state_runs(store, b)
    if runs_b[: len(runs_a)] != runs_a:
        raise PatchError(f"between {a.short_id} and {b.short_id} some edits of {a.short_id} were reverted, so the "
                         f"range cannot be replayed on a checkout of {a.short_id}; export from ROOT instead")
    base = base_model(store)
    commits = store.all("SELECT id, kind, author, message, created_at FROM commits WHERE seq > ? AND seq <= ? "
                        "ORDER BY seq", (a.seq, b.seq))
    return {
        "format": PATCH_FORMAT, "version": PATCH_VERSION, "created_at": now(), "created_by": store.author,
        "base": {"name": base.name, "fingerprint": base.fingerprint, "architecture": base.architecture},
        "from": {"commit": a.id, "state_fingerprint": a.state_fingerprint,
                 "delta_hashes": delta_hashes(store, runs_a)},
        "to": {"commit": b.id, "state_fingerprint": b.state_fingerprint},
        "commits": commits,
        "edits": [_edit_entry(store, r) for r in runs_b[len(runs_a):]],
        "weights": _weights(store, [a.state_fingerprint, b.state_fingerprint]),
    }


def export_patch(store: Store, out: str | Path, from_ref: str = "ROOT", to_ref: str = "HEAD") -> PatchInfo:
    """Write the edits between two commits (default: all of HEAD) as one patch file."""
    out = Path(out)
    with store.reading():
        manifest = build_manifest(store, from_ref, to_ref)
        deltas = {e["delta_file"]: delta_bytes(store, e["delta_sha256"]) for e in manifest["edits"]}
    with replacing(out) as temp, zipfile.ZipFile(temp, "w") as archive:
        archive.writestr(MANIFEST, json.dumps(manifest, indent=1, ensure_ascii=False),
                         compress_type=zipfile.ZIP_DEFLATED)
        for name, data in deltas.items():
            archive.writestr(name, data, compress_type=zipfile.ZIP_STORED)
    return PatchInfo(str(out), manifest["base"]["fingerprint"], manifest["from"]["commit"],
                     manifest["to"]["commit"], manifest["to"]["state_fingerprint"], len(manifest["edits"]),
                     out.stat().st_size)


def read_patch(path: str | Path) -> tuple[dict[str, Any], list[Delta]]:
    """The manifest and the deltas, each checked against the hash the manifest records."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            manifest = _manifest(path, archive)
            edits = manifest["edits"]
            deltas = [_delta(path, archive, i, edit, len(edits)) for i, edit in enumerate(edits)]
    except (zipfile.BadZipFile, OSError) as exc:
        raise PatchError(f"{path} is not a readable Factsmith patch: {exc}") from None
    hashes = manifest["from"]["delta_hashes"] + [e["delta_sha256"] for e in manifest["edits"]]
    if state_fingerprint(manifest["base"]["fingerprint"], hashes) != manifest["to"]["state_fingerprint"]:
        raise PatchError(f"{path.name}: its edits do not add up to the end state it records; the file was altered")
    return manifest, deltas


def _manifest(path: Path, archive: zipfile.ZipFile) -> dict[str, Any]:
    try:
        manifest = json.loads(archive.read(MANIFEST))
    except KeyError:
        raise PatchError(f"{path.name} is not a Factsmith patch: it has no {MANIFEST}") from None
    except ValueError as exc:
        raise PatchError(f"{path.name}: {MANIFEST} is not valid JSON: {exc}") from None
    if manifest.get("format") != PATCH_FORMAT:
        raise PatchError(f"{path.name} is not a Factsmith patch (format {manifest.get('format')!r})")
    if manifest.get("version", 0) > PATCH_VERSION:
        raise PatchError(f"{path.name} is patch version {manifest['version']}; this Factsmith reads up to "
                         f"{PATCH_VERSION}")
    return manifest


def describe_edit(edit: dict[str, Any], index: int, total: int) -> str:
    fact = (edit.get("facts") or [{}])[0]
    return (f"edit {index + 1} of {total} ({edit.get('method')}: {fact.get('prompt')!r} -> "
            f"{fact.get('target_new')!r})")


def _delta(path: Path, archive: zipfile.ZipFile, index: int, edit: dict[str, Any], total: int) -> Delta:
    what, sha = describe_edit(edit, index, total), edit["delta_sha256"]
    try:
        data = archive.read(edit["delta_file"])
    except KeyError:
        raise PatchError(f"{path.name}: {what}: its delta {edit['delta_file']} is missing") from None
    try:
        delta = Delta.from_bytes(data)  # checks the content against the header's hash
    except Exception as exc:  # safetensors raises its own error type for bad bytes
        raise PatchError(f"{path.name}: {what}: the delta is corrupt ({exc})") from None
    if recorded_sha(data) != sha:
        raise PatchError(f"{path.name}: {what}: the delta hashes to {recorded_sha(data)[:12]}, but the patch "
                         f"records {sha[:12]}")
    return delta


def _check_start(manifest: dict[str, Any], model_dir: Path) -> dict[str, Any] | None:
    """Refuse a model that is not the patch's start state; the checkout marker when it is one."""
    base = manifest["base"]
    if not manifest["from"]["delta_hashes"]:
        found = folder_fingerprint(model_dir)
        if found != base["fingerprint"]:
            raise PatchError(f"model {model_dir} has fingerprint {found[:12]}, but this patch applies to base model "
                             f"{base['name']} with fingerprint {base['fingerprint'][:12]}")
        return None
    try:
        marker = json.loads((model_dir / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        marker = {}
    if marker.get("state_fingerprint") != manifest["from"]["state_fingerprint"] or \
            marker.get("base_fingerprint") != base["fingerprint"]:
        raise PatchError(f"model {model_dir} is not a checkout of commit {manifest['from']['commit'][:12]}, where "
                         f"this patch starts; check that commit out (factsmith checkout REF --out DIR) first")
    return marker


def apply_patch(path: str | Path, model_dir: str | Path, out: str | Path, options=None,
                progress: Progress | None = None) -> PatchApplied:
    """Replay a patch on a model folder and write the result to ``out``."""
    from core.model.loading import load_model

    progress, path, model_dir = progress or silent(), Path(path), Path(model_dir)
    manifest, deltas = read_patch(path)
    marker = _check_start(manifest, model_dir)
    lm = load_model(model_dir, options, progress.stage(0.0, 0.4))
    key = weights_key(lm)
    if marker is not None and (marker.get("dtype"), marker.get("device")) == key and \
            weights_fingerprint(lm.model) != marker.get("weights_fingerprint"):
        raise PatchError(f"model {model_dir}: its weights changed since it was checked out")
    replay(lm, deltas, progress.stage(0.4, 0.9))
    found = weights_fingerprint(lm.model)
    to_state = manifest["to"]["state_fingerprint"]
    expected = [w["weights_fingerprint"] for w in manifest["weights"]
                if w["state_fingerprint"] == to_state and (w["dtype"], w["device"]) == key]
    if expected and expected[0] != found:
        raise PatchError(f"{path.name}: the patched weights fingerprint {found[:12]}, but the patch records "
                         f"{expected[0][:12]} for {key[0]} on {key[1]}")
    result = PatchApplied(str(path), str(model_dir), str(Path(out).resolve()), to_state, found, key[0], key[1],
                          bool(expected), len(deltas), lm)
    save_folder(lm, Path(out), {"factsmith_checkout": 1, "patch": path.name, "commit": manifest["to"]["commit"],
                                "state_fingerprint": to_state, "base_fingerprint": manifest["base"]["fingerprint"],
                                "base_model": manifest["base"]["name"], "weights_fingerprint": found,
                                "dtype": key[0], "device": key[1], "runs": len(manifest["from"]["delta_hashes"])
                                + len(deltas)})
    progress.report(1.0, 1.0, "patched")
    return result
