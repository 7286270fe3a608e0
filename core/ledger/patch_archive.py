"""Reading a patch zip defensively: member names, sizes and the manifest's shape are checked
before anything is inflated or parsed, and every failure is a ``PatchError`` naming the
patch file and the member.

A patch comes from someone else, so nothing in it is trusted: a member is read only if its
name is one a patch has, its declared size is under the cap, and it inflates to no more
than that (a zip bomb stops at the cap, not at the end of memory).
"""

from __future__ import annotations

import json
import re
import zipfile
import zlib
from pathlib import Path
from typing import Any

from core.ledger.errors import PatchError

PATCH_FORMAT = "factsmith-patch"
PATCH_VERSION = 2  # 2: hash chain over the edits, delta file hashes, signatures
MANIFEST = "manifest.json"
SIGNATURE = "signature.json"
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
MAX_SIGNATURE_BYTES = 64 * 1024
MAX_DELTA_BYTES = 16 * 1024**3  # a dense fine-tuning delta of a large model
MAX_MEMBERS = 100_000
_DELTA_NAME = re.compile(r"deltas/[0-9a-f]{64}\.safetensors")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_READ_ERRORS = (zlib.error, zipfile.BadZipFile, EOFError, NotImplementedError, RuntimeError, OSError)

# required keys and their types; version 2 adds the chain and the delta file hashes
_TOP = {"format": str, "version": int, "base": dict, "from": dict, "to": dict, "edits": list, "weights": list}
_PARTS = {"base": {"name": str, "fingerprint": str},
          "from": {"commit": str, "state_fingerprint": str, "delta_hashes": list},
          "to": {"commit": str, "state_fingerprint": str}}
_EDIT = {"delta_sha256": str, "delta_file": str, "facts": list, "method": str, "hparams": dict}
_EDIT_V2 = {"delta_file_sha256": str, "delta_size": int, "link": str}
_WEIGHT = {"state_fingerprint": str, "dtype": str, "device": str, "weights_fingerprint": str}


def check_members(path: Path, archive: zipfile.ZipFile) -> None:
    """Refuse any member a patch does not have (``../x``, absolute paths, pickles...) and duplicates."""
    names = archive.namelist()
    if len(names) > MAX_MEMBERS:
        raise PatchError(f"{path.name}: {len(names)} members, more than a patch may have ({MAX_MEMBERS})")
    if len(set(names)) != len(names):
        raise PatchError(f"{path.name}: some members appear twice; the file was altered")
    for name in names:
        if name not in (MANIFEST, SIGNATURE) and not _DELTA_NAME.fullmatch(name):
            raise PatchError(f"{path.name}: unexpected member {name!r}; a patch holds only {MANIFEST}, "
                             f"{SIGNATURE} and deltas/<sha256>.safetensors")


def read_member(path: Path, archive: zipfile.ZipFile, name: str, limit: int) -> bytes | None:
    """The member's bytes, inflated to at most ``limit``; None when it is absent."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        return None
    if info.file_size > limit:
        raise PatchError(f"{path.name}: {name} declares {info.file_size} bytes, over the limit of {limit}")
    try:
        with archive.open(info) as fh:
            data = fh.read(limit + 1)  # zipfile also stops at the declared size and checks the CRC
    except _READ_ERRORS as exc:
        raise PatchError(f"{path.name}: {name} is corrupt ({type(exc).__name__}: {exc})") from None
    if len(data) > limit:
        raise PatchError(f"{path.name}: {name} inflates past the limit of {limit} bytes")
    return data


def parse_manifest(path: Path, data: bytes | None) -> dict[str, Any]:
    if data is None:
        raise PatchError(f"{path.name} is not a Factsmith patch: it has no {MANIFEST}")
    try:
        manifest = json.loads(data)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise PatchError(f"{path.name}: {MANIFEST} is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != PATCH_FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise PatchError(f"{path.name} is not a Factsmith patch (format {found!r})")
    version = manifest.get("version")
    if not isinstance(version, int) or not 1 <= version <= PATCH_VERSION:
        raise PatchError(f"{path.name} is patch version {version!r}; this Factsmith reads 1 to {PATCH_VERSION}")
    _check_manifest(path, manifest)
    return manifest


def _require(path: Path, where: str, obj: Any, keys: dict[str, type]) -> None:
    if not isinstance(obj, dict):
        raise PatchError(f"{path.name}: {MANIFEST}: {where} is not an object")
    for key, kind in keys.items():
        if key not in obj:
            raise PatchError(f"{path.name}: {MANIFEST}: {where} has no {key!r}; the file was altered")
        if not isinstance(obj[key], kind) or (kind is int and isinstance(obj[key], bool)):
            raise PatchError(f"{path.name}: {MANIFEST}: {where}.{key} is not a {kind.__name__}")


def _check_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """Every key the reader uses is present and typed, so no later lookup can fail."""
    _require(path, "the manifest", manifest, _TOP)
    for part, keys in _PARTS.items():
        _require(path, part, manifest[part], keys)
    if manifest["version"] >= 2:
        _require(path, "to", manifest["to"], {"chain": str})
    for i, sha in enumerate(manifest["from"]["delta_hashes"]):
        if not isinstance(sha, str) or not _HEX64.fullmatch(sha):
            raise PatchError(f"{path.name}: {MANIFEST}: from.delta_hashes[{i}] is not a sha256")
    for i, edit in enumerate(manifest["edits"]):
        where = f"edit {i + 1} of {len(manifest['edits'])}"
        _require(path, where, edit, {**_EDIT, **(_EDIT_V2 if manifest["version"] >= 2 else {})})
        if not _HEX64.fullmatch(edit["delta_sha256"]) or \
                edit["delta_file"] != f"deltas/{edit['delta_sha256']}.safetensors":
            raise PatchError(f"{path.name}: {MANIFEST}: {where} names its delta {edit['delta_file']!r}, not "
                             f"deltas/<its delta_sha256>.safetensors")
        if not all(isinstance(f, dict) for f in edit["facts"]):
            raise PatchError(f"{path.name}: {MANIFEST}: {where}: facts are not objects")
    for i, weights in enumerate(manifest["weights"]):
        _require(path, f"weights[{i}]", weights, _WEIGHT)
