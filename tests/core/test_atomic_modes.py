"""What ``replacing`` swaps in gets the mode of any new file, whatever the writer did to the
temp (safetensors writes its own 0600 file); ``private`` keeps a secret 0600 throughout."""

import os
import stat

import pytest

from core.util.atomic import current_umask, give_new_modes, new_file_mode, replacing


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_the_umask_is_read_and_left_as_it_was(umask_022):
    assert current_umask() == 0o022
    assert current_umask() == 0o022
    old = os.umask(0o077)
    try:
        assert current_umask() == 0o077
    finally:
        os.umask(old)
    assert new_file_mode(umask=0o027) == 0o640


def test_a_writer_that_replaces_the_temp_does_not_make_the_file_private(tmp_path, umask_022):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    target = tmp_path / "stats.safetensors"
    with replacing(target) as temp:
        save_file({"x": torch.zeros(2)}, str(temp))
    assert mode(target) == 0o644


def test_a_private_file_is_private_from_the_start(tmp_path, umask_022):
    target = tmp_path / "author.key"
    with replacing(target, durable=True, private=True) as temp:
        assert mode(temp) == 0o600, "no byte is written while others could read it"
        temp.write_bytes(b"secret")
    assert mode(target) == 0o600 and target.read_bytes() == b"secret"


def test_a_written_folder_gets_the_modes_of_new_ones(tmp_path, umask_022):
    import tempfile

    staging = tempfile.mkdtemp(dir=tmp_path)  # 0700
    os.mkdir(os.path.join(staging, "sub"), 0o700)
    for name, file_mode in (("weights", 0o600), ("sub/tool", 0o700)):
        path = os.path.join(staging, name)
        open(path, "w").close()
        os.chmod(path, file_mode)
    os.symlink("weights", os.path.join(staging, "link"))
    give_new_modes(staging)
    assert (mode(staging), mode(os.path.join(staging, "sub"))) == (0o755, 0o755)
    assert mode(os.path.join(staging, "weights")) == 0o644
    assert mode(os.path.join(staging, "sub/tool")) == 0o755, "a program stays one"


def test_without_proc_the_umask_is_probed_not_set(umask_022, monkeypatch):
    """macOS and Windows have no /proc: a probe file shows the umask, which is never changed (a
    brief 0077 would make files other threads create meanwhile private for good)."""
    import core.util.atomic as atomic

    def no_proc(*args, **kwargs):
        raise OSError("no /proc here")

    monkeypatch.setattr(atomic, "open", no_proc, raising=False)
    real_umask, calls = os.umask, []
    monkeypatch.setattr(os, "umask", lambda mask: calls.append(mask) or real_umask(mask))
    found = atomic.current_umask()
    monkeypatch.undo()
    assert found == 0o022 and calls == [], "probed, never set"
