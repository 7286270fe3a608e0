import pytest

from core.util.atomic import replacing


@pytest.mark.parametrize("durable", [False, True])
def test_the_file_appears_whole(tmp_path, durable):
    target = tmp_path / "sub" / "record.bin"
    with replacing(target, durable=durable) as temp:
        assert temp.parent == target.parent and not target.exists()
        temp.write_bytes(b"whole")
    assert target.read_bytes() == b"whole"
    assert sorted(p.name for p in target.parent.iterdir()) == ["record.bin"]


def test_a_failure_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "record.txt"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(RuntimeError, match="disk full"), replacing(target, durable=True) as temp:
        temp.write_text("half", encoding="utf-8")
        raise RuntimeError("disk full")
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["record.txt"]


def test_a_written_file_gets_the_mode_of_any_new_file(tmp_path):
    """Trial 34: an exported edit set came out -rw------- (mkstemp's mode), though it is for sharing."""
    import os

    umask = os.umask(0o022)
    try:
        with replacing(tmp_path / "shared.jsonl") as temp:
            temp.write_text("{}\n")
    finally:
        os.umask(umask)
    assert (tmp_path / "shared.jsonl").stat().st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["shared.jsonl"], "no temporary file left"


def test_a_folder_or_a_file_in_the_way_is_said_in_words(tmp_path):
    """Review 46: `patch export --out FOLDER` said "[Errno 21] Is a directory: '.p.zip….tmp' ->
    …", naming a temp file the user never chose; nothing is left behind either way."""
    import pytest

    from core.util.atomic import replacing

    folder = tmp_path / "out"
    folder.mkdir()
    with pytest.raises(IsADirectoryError, match=f"^{folder} is a folder: name a file to write"), \
            replacing(folder) as temp:
        temp.write_text("x")
    a_file = tmp_path / "taken.txt"
    a_file.write_text("keep")
    with pytest.raises(NotADirectoryError, match=f"^{a_file} is a file, so {a_file}/p.zip cannot be written"), \
            replacing(a_file / "p.zip") as temp:
        temp.write_text("x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "taken.txt"] and not any(folder.iterdir())
