"""The fingerprint cache keys on inode and ctime too; ``rehash`` and the folder identity."""

from __future__ import annotations

import os
import shutil

from core.model.fingerprint import folder_fingerprint, folder_identity


def _tamper_in_place(path) -> None:
    before = path.stat()
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x01
    with path.open("r+b") as fh:
        fh.write(bytes(data))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_mtime_ns == before.st_mtime_ns and path.stat().st_size == before.st_size


def test_a_file_changed_in_place_with_mtime_restored_is_rehashed(tiny_model_dir, tmp_path):
    folder = tmp_path / "m"
    shutil.copytree(tiny_model_dir("gpt2"), folder)
    first = folder_fingerprint(folder)
    _tamper_in_place(folder / "model.safetensors")
    assert folder_fingerprint(folder) != first  # ctime moved on, so the cache missed


def test_rehash_ignores_the_cache(tiny_model_dir, tmp_path, monkeypatch):
    import core.model.fingerprint as fp

    folder = tmp_path / "m"
    shutil.copytree(tiny_model_dir("gpt2"), folder)
    first = folder_fingerprint(folder)
    monkeypatch.setattr(fp, "_file_key", lambda path: f"{path.resolve()}")  # a cache that a rewrite fools
    folder_fingerprint(folder)
    _tamper_in_place(folder / "model.safetensors")
    assert folder_fingerprint(folder) == first  # the fooled cache answers
    assert folder_fingerprint(folder, rehash=True) != first  # a full rehash does not


def test_the_weights_fingerprint_is_unchanged_and_the_identity_covers_config_and_tokenizer(tiny_model_dir,
                                                                                          tmp_path):
    folder = tmp_path / "m"
    shutil.copytree(tiny_model_dir("gpt2"), folder)
    weights, identity = folder_fingerprint(folder), folder_identity(folder)
    assert weights != identity
    (folder / "tokenizer.json").write_text((folder / "tokenizer.json").read_text().replace("Paris", "Parix"))
    assert folder_fingerprint(folder) == weights and folder_identity(folder) != identity
    (folder / "config.json").write_text((folder / "config.json").read_text() + " ")
    assert folder_fingerprint(folder) == weights  # workspaces keyed on it still open
