"""Fingerprints: sha256 of a model's weight files (cached), of its whole folder, and of in-memory weights.

``folder_fingerprint`` (weights only) is the identity workspaces record for their base model
and name their default path by; it keeps its definition so existing workspaces still open.
``folder_identity`` also covers config.json and the tokenizer files, which change what a
model answers as much as its weights do; patches record it and check it when they apply.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from core.util.atomic import replacing
from core.util.paths import cache_dir
from core.util.progress import Progress, silent

log = logging.getLogger(__name__)

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
IDENTITY_VERSION = "factsmith-folder-identity-v1"  # bump if the covered files change
IDENTITY_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                  "special_tokens_map.json", "added_tokens.json", "vocab.json", "vocab.txt", "merges.txt",
                  "tokenizer.model", "spiece.model", "chat_template.jinja")
_CHUNK = 8 * 1024 * 1024


def weight_files(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).iterdir() if p.suffix in WEIGHT_SUFFIXES and p.is_file())


def _cache_file() -> Path:
    return cache_dir() / "fingerprints.json"


def _read_cache() -> dict:
    try:
        return json.loads(_cache_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _write_cache(cache: dict) -> None:
    with replacing(_cache_file()) as tmp:  # a reader never sees half a file
        tmp.write_text(json.dumps(cache, indent=1), encoding="utf-8")


def _file_key(path: Path) -> str:
    # inode and ctime too: a file rewritten in place with its mtime restored keeps path, size
    # and mtime, but the kernel moves ctime on (only a clock change can set it back)
    stat = path.stat()
    return f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{stat.st_ino}|{stat.st_ctime_ns}"


def _hash_file(path: Path, progress: Progress, done: int, total: int) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            progress.check()
            digest.update(chunk)
            done += len(chunk)
            progress.report(done, total, f"hashing {path.name}")
    return digest.hexdigest()


def folder_fingerprint(folder: Path, progress: Progress | None = None, rehash: bool = False) -> str:
    """sha256 over (name, file sha256) of every weight file; per-file hashes are cached
    by path, size, mtime, inode and ctime so a second load does not rehash. ``rehash``:
    hash every file in full whatever the cache says (and refresh the cache), for when the
    fingerprint alone decides whether weights are accepted."""
    progress = progress or silent()
    files = weight_files(folder)
    if not files:
        raise FileNotFoundError(f"no weight files (*.safetensors, *.bin) in {folder}")
    cache = _read_cache()
    total, done, changed = sum(p.stat().st_size for p in files), 0, False
    combined = hashlib.sha256()
    for path in files:
        key = _file_key(path)
        if rehash or key not in cache:
            cache[key] = _hash_file(path, progress, done, total)
            changed = True
        done += path.stat().st_size
        progress.report(done, total, f"fingerprinted {path.name}")
        combined.update(f"{path.name}\0{cache[key]}\n".encode())
    if changed:
        _write_cache(cache)
    return combined.hexdigest()


def folder_identity(folder: Path, progress: Progress | None = None, rehash: bool = False) -> str:
    """The weights fingerprint plus sha256 of config.json and the tokenizer files (hashed in
    full each time: they are small), versioned so a change of the covered set is visible."""
    digest = hashlib.sha256(f"{IDENTITY_VERSION}\n{folder_fingerprint(folder, progress, rehash)}\n".encode())
    for name in IDENTITY_FILES:
        path = Path(folder) / name
        if path.is_file():
            digest.update(f"{name}\0{_hash_file(path, silent(), 0, 1)}\n".encode())
    return digest.hexdigest()


def state_fingerprint(model) -> str:
    """sha256 of every parameter and buffer of a model in memory, by name, bit for bit,
    and of its codebook adaptors (GRACE), hook layers (COMEBA-HK) and retrieval repository
    (RECIPE) when it has them: the state that answers prompts."""
    import torch

    from core.edit.adaptors import adaptor_digest
    from core.edit.hooklayers import hook_layers_digest
    from core.edit.repository import repository_digest

    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(f"{name}\0{t.dtype}\0{tuple(t.shape)}\n".encode())
        digest.update(t.view(torch.uint8).numpy() if t.numel() else b"")  # the buffer itself: no copy
    adaptors = adaptor_digest(model)
    if adaptors is not None:  # absent for plain models, whose fingerprints stay what they were
        digest.update(f"factsmith-adaptors\0{adaptors}\n".encode())
    repository = repository_digest(model)
    if repository is not None:  # RECIPE's retrieval repository, likewise
        digest.update(f"factsmith-repository\0{repository}\n".encode())
    hooks = hook_layers_digest(model)
    if hooks is not None:  # COMEBA-HK's hook layers, likewise
        digest.update(f"factsmith-hook-layers\0{hooks}\n".encode())
    return digest.hexdigest()
