"""Model folders Factsmith writes are for sharing (a new-user trial: `checkout --out` and
`patch apply --out` made drwx------ folders with a -rw------- model.safetensors): they get the
modes any new folder and file gets, 0777 and 0666 less the umask. The author key stays 0600."""

import os
import stat

import pytest

from core.ledger import apply_patch
from core.model.loading import LoadOptions
from tests.core.ledger.helpers import add_run_approve, make_facts

CPU = LoadOptions(device="cpu")


@pytest.fixture
def umask():
    """umask(mask) sets the process's umask for the test; the old one is restored after it."""
    old = os.umask(0o022)
    os.umask(old)

    def set_umask(mask: int) -> None:
        os.umask(mask)

    yield set_umask
    os.umask(old)


def modes(folder):
    """{path under folder's parent: mode} for the folder and everything in it."""
    return {p.relative_to(folder.parent).as_posix(): stat.S_IMODE(p.lstat().st_mode)
            for p in [folder, *folder.rglob("*")]}


def expected(folder, dirs: int, files: int):
    return {p.relative_to(folder.parent).as_posix(): dirs if p.is_dir() else files
            for p in [folder, *folder.rglob("*")]}


@pytest.fixture
def committed(workspace):
    add_run_approve(workspace, make_facts(2))
    workspace.commit("two edits")
    return workspace


def test_a_checkout_folder_gets_the_modes_of_new_files(committed, tmp_path, umask):
    umask(0o022)
    out = tmp_path / "models" / "capitals-v1"
    committed.checkout("HEAD", out, options=CPU)
    found = modes(out)
    assert {"capitals-v1", "capitals-v1/model.safetensors", "capitals-v1/factsmith.json"} <= set(found)
    assert found == expected(out, 0o755, 0o644)
    assert [p.name for p in out.parent.iterdir()] == ["capitals-v1"], "no staging folder left"


def test_the_modes_follow_the_umask(committed, tmp_path, umask):
    umask(0o027)
    out = tmp_path / "private-ish"
    committed.checkout("HEAD", out, options=CPU)
    assert modes(out) == expected(out, 0o750, 0o640)


def test_a_patched_folder_and_the_patch_get_the_modes_of_new_files(committed, author_key, tiny_model_dir, tmp_path,
                                                                   umask):
    umask(0o022)
    committed.export_patch(tmp_path / "capitals.fspatch")
    assert stat.S_IMODE((tmp_path / "capitals.fspatch").stat().st_mode) == 0o644
    out = tmp_path / "patched"
    apply_patch(tmp_path / "capitals.fspatch", tiny_model_dir("gpt2"), out, CPU)
    assert modes(out)["patched/model.safetensors"] == 0o644
    assert modes(out) == expected(out, 0o755, 0o644)


def test_the_author_key_stays_private(tmp_path, umask):
    from core.util.signing import KeyStore

    umask(0o022)
    keys = KeyStore(tmp_path / "config" / "keys")
    keys.init("alice")
    assert stat.S_IMODE(keys.private_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(keys.public_path.stat().st_mode) == 0o644
    keys.init("alice", force=True)  # a replaced key is private too
    assert stat.S_IMODE(keys.private_path.stat().st_mode) == 0o600
