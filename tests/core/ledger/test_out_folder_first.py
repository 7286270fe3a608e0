"""A taken --out (an existing, non-empty folder) is refused before anything else: a new-user
trial saw `patch apply --allow-unsigned` announce "applying it because unsigned patches were
allowed" and only then fail on the folder."""

import logging

import pytest

import core.model.loading
from core.cli import main
from core.ledger import LedgerError, apply_patch
from core.model.loading import LoadOptions
from tests.core.ledger.helpers import add_run_approve, make_facts

CPU = LoadOptions(device="cpu")
TAKEN = r"jp already exists and is not an empty folder; choose a new one"


@pytest.fixture
def unsigned_patch(workspace, tmp_path, monkeypatch):
    monkeypatch.setenv("FACTSMITH_CONFIG_DIR", str(tmp_path / "no-keys"))  # no author key: unsigned
    add_run_approve(workspace, make_facts(2))
    workspace.commit("two edits")
    workspace.export_patch(tmp_path / "japan.fspatch")
    return tmp_path / "japan.fspatch"


@pytest.fixture
def taken(tmp_path):
    (tmp_path / "jp").mkdir()
    (tmp_path / "jp" / "notes.txt").write_text("someone's work")
    return tmp_path / "jp"


@pytest.fixture
def no_loading(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the output folder was checked")

    monkeypatch.setattr(core.model.loading, "load_model", refuse)


def test_apply_refuses_a_taken_out_before_reading_or_loading(unsigned_patch, taken, tiny_model_dir, tmp_path,
                                                              caplog, no_loading):
    from core.ledger.patches import PatchTrust

    caplog.set_level(logging.INFO)
    with pytest.raises(LedgerError, match=TAKEN):
        apply_patch(unsigned_patch, tiny_model_dir("gpt2"), taken, CPU, trust=PatchTrust(allow_unsigned=True))
    with pytest.raises(LedgerError, match=TAKEN):  # even a patch or model that would be refused comes second
        apply_patch(tmp_path / "missing.fspatch", tmp_path / "no-model", taken, CPU)
    assert not [r for r in caplog.records if "unsigned" in r.getMessage() or "applying" in r.getMessage()]
    assert [p.name for p in taken.iterdir()] == ["notes.txt"]


def test_the_cli_says_only_the_refusal(unsigned_patch, taken, tiny_model_dir, capsys, no_loading):
    code = main(["patch", "apply", str(unsigned_patch), "--model", str(tiny_model_dir("gpt2")), "--out", str(taken),
                 "--allow-unsigned", "--device", "cpu"])
    captured = capsys.readouterr()
    assert code == 2
    assert "already exists and is not an empty folder" in captured.err
    assert "unsigned" not in captured.err + captured.out and "applying" not in captured.err + captured.out


def test_checkout_refuses_a_taken_out_before_building(workspace, taken, no_loading):
    with pytest.raises(LedgerError, match=TAKEN):
        workspace.checkout("HEAD", taken, options=CPU)


def test_an_empty_out_folder_is_still_used(unsigned_patch, tiny_model_dir, tmp_path):
    from core.ledger.patches import PatchTrust

    (tmp_path / "empty").mkdir()
    applied = apply_patch(unsigned_patch, tiny_model_dir("gpt2"), tmp_path / "empty", CPU,
                          trust=PatchTrust(allow_unsigned=True))
    assert applied.edits == 2 and (tmp_path / "empty" / "model.safetensors").is_file()
