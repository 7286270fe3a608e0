"""Patches: one file per commit range; applying checks the model and every delta first."""

import json
import shutil
import zipfile

import pytest

from core.ledger import PatchError, apply_patch, read_patch
from core.model.fingerprint import state_fingerprint
from core.model.loading import LoadOptions, load_model
from tests.core.ledger.helpers import add_run_approve, make_facts

CPU = LoadOptions(device="cpu")


pytestmark = pytest.mark.usefixtures("author_key")  # signed and trusted patches


@pytest.fixture
def two_commits(workspace):
    facts = make_facts(5)
    add_run_approve(workspace, facts[:3])
    workspace.commit("three")
    add_run_approve(workspace, facts[3:])
    workspace.commit("two more")
    return workspace, facts


def test_a_patch_on_a_fresh_copy_equals_the_checkout(two_commits, tiny_model_dir, tmp_path):
    ws, facts = two_commits
    checkout = ws.checkout("HEAD", options=CPU)
    info = ws.export_patch(tmp_path / "all.patch")
    assert (info.edits, info.from_commit, info.to_commit) == (5, ws.resolve("ROOT").id, ws.head().id)
    copy = tmp_path / "fresh-copy"
    shutil.copytree(tiny_model_dir("gpt2"), copy)
    applied = apply_patch(tmp_path / "all.patch", copy, tmp_path / "patched", CPU)
    assert applied.weights_fingerprint == checkout.weights_fingerprint and applied.verified
    assert state_fingerprint(load_model(tmp_path / "patched", CPU).model) == checkout.weights_fingerprint
    manifest, deltas = read_patch(tmp_path / "all.patch")
    assert [e["facts"][0]["prompt"] for e in manifest["edits"]] == [f.prompt for f in facts]
    assert manifest["edits"][0]["method"] == "hand" and manifest["edits"][0]["hparams"] == {"seed": 0}
    assert manifest["base"]["fingerprint"] == ws.base.fingerprint and len(deltas) == 5


def test_a_range_applies_to_a_checkout_of_its_start(two_commits, tmp_path):
    ws, _ = two_commits
    ws.checkout("HEAD~1", tmp_path / "start", options=CPU)
    head = ws.checkout("HEAD", options=CPU)
    ws.export_patch(tmp_path / "last.patch", from_ref="HEAD~1")
    applied = apply_patch(tmp_path / "last.patch", tmp_path / "start", tmp_path / "end", CPU)
    assert applied.edits == 2 and applied.weights_fingerprint == head.weights_fingerprint
    with pytest.raises(PatchError, match=r"is not a checkout of commit"):
        apply_patch(tmp_path / "last.patch", tmp_path / "end", tmp_path / "again", CPU)


def test_a_different_model_is_refused_by_fingerprint(two_commits, tiny_model_dir, tmp_path):
    ws, _ = two_commits
    ws.export_patch(tmp_path / "all.patch")
    with pytest.raises(PatchError, match=r"has fingerprint \w+, but this patch applies to base model .* with "
                                         r"fingerprint " + ws.base.fingerprint[:12]):
        apply_patch(tmp_path / "all.patch", tiny_model_dir("llama"), tmp_path / "out", CPU)
    assert not (tmp_path / "out").exists()


def test_a_mistyped_model_folder_is_named_not_an_os_error(two_commits, tmp_path):
    """Trial 34: "factsmith patch: error: [Errno 2] No such file or directory: 'assets/demo-modle'"."""
    ws, _ = two_commits
    ws.export_patch(tmp_path / "all.patch")
    with pytest.raises(PatchError, match=r"demo-modle is not a folder; choose the model folder this patch "
                                         r"applies to \(base model "):
        apply_patch(tmp_path / "all.patch", tmp_path / "demo-modle", tmp_path / "out", CPU)
    assert not (tmp_path / "out").exists()


def test_a_missing_patch_file_is_said_plainly(tmp_path, tiny_model_dir):
    with pytest.raises(PatchError, match=r"^no patch file .*nowhere\.fspatch: check the path") as refused:
        apply_patch(tmp_path / "nowhere.fspatch", tiny_model_dir("gpt2"), tmp_path / "out", CPU)
    assert "Errno" not in str(refused.value)


def _rewrite(path, change):
    with zipfile.ZipFile(path) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    change(files)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)


def test_a_corrupt_delta_is_refused_and_named(two_commits, tiny_model_dir, tmp_path):
    ws, facts = two_commits
    ws.export_patch(tmp_path / "p.patch")
    manifest, _ = read_patch(tmp_path / "p.patch")
    third = manifest["edits"][2]["delta_file"]

    def flip(files):
        data = bytearray(files[third])
        data[-1] ^= 0xFF
        files[third] = bytes(data)

    _rewrite(tmp_path / "p.patch", flip)
    wanted = rf"edit 3 of 5 \(hand: '{facts[2].prompt}' -> 'City2'\): the delta is corrupt"
    with pytest.raises(PatchError, match=wanted):
        apply_patch(tmp_path / "p.patch", tiny_model_dir("gpt2"), tmp_path / "out", CPU)


def test_a_swapped_delta_is_refused_and_named(two_commits, tiny_model_dir, tmp_path):
    ws, _ = two_commits
    ws.export_patch(tmp_path / "p.patch")
    manifest, _ = read_patch(tmp_path / "p.patch")
    first, second = (manifest["edits"][i]["delta_file"] for i in (0, 1))

    def swap(files):
        files[first], files[second] = files[second], files[first]

    _rewrite(tmp_path / "p.patch", swap)
    with pytest.raises(PatchError, match=r"edit 1 of 5 .* the delta hashes to .* but the patch records"):
        apply_patch(tmp_path / "p.patch", tiny_model_dir("gpt2"), tmp_path / "out", CPU)


def test_an_edited_manifest_is_refused(two_commits, tmp_path):
    ws, _ = two_commits
    ws.export_patch(tmp_path / "p.patch")

    def drop_edit(files):
        manifest = json.loads(files["manifest.json"])
        del manifest["edits"][1]
        files["manifest.json"] = json.dumps(manifest).encode()

    _rewrite(tmp_path / "p.patch", drop_edit)
    with pytest.raises(PatchError, match=r"do not add up to the end state"):
        read_patch(tmp_path / "p.patch")


def test_not_a_patch(tmp_path):
    (tmp_path / "x.patch").write_text("hello")
    with pytest.raises(PatchError, match=r"not a readable Factsmith patch"):
        read_patch(tmp_path / "x.patch")


def test_a_range_across_a_revert_of_its_start_is_refused(two_commits, tmp_path):
    ws, facts = two_commits
    ws.revert([facts[0].id], "drop the first", options=CPU)
    with pytest.raises(PatchError, match=r"were reverted.*export from ROOT"):
        ws.export_patch(tmp_path / "p.patch", from_ref="HEAD~2")
    assert ws.export_patch(tmp_path / "p.patch").edits == 4


def test_a_range_that_adds_no_edit_is_refused_and_nothing_is_written(two_commits, tmp_path):
    """Trial 45: `patch export` of an empty range wrote a patch of 0 edits without a word."""
    ws, _ = two_commits
    out = tmp_path / "empty.fspatch"
    with pytest.raises(PatchError, match=r"adds no edit: a patch of it would change nothing"):
        ws.export_patch(out, from_ref="HEAD", to_ref="HEAD")
    assert not out.exists()
