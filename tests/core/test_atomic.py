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
