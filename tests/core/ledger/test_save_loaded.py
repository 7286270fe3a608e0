"""The commit a loaded model holds is written from that model (a second copy of a large model
may not fit in memory), as the same folder a checkout from the base writes; a model whose
weights are not the commit's recorded ones is refused and nothing is written."""

import json

import pytest
import torch

from core.ledger import VerificationError
from core.ledger import materialise as materialise_module
from core.model.fingerprint import state_fingerprint
from core.model.loading import LoadOptions, load_model
from tests.core.ledger.helpers import add_run_approve, make_facts

CPU = LoadOptions(device="cpu")


@pytest.fixture
def live(workspace):
    add_run_approve(workspace, make_facts(2))
    workspace.commit("two edits")
    return workspace.checkout("HEAD", options=CPU)  # the live model, as the window holds it


def test_the_live_commit_is_written_from_the_loaded_model_without_a_rebuild(workspace, live, tmp_path, monkeypatch):
    monkeypatch.setattr(materialise_module, "load_base", lambda *a, **k: pytest.fail("rebuilt from the base"))
    written = workspace.save_loaded(live.lm, "HEAD", tmp_path / "shared")
    monkeypatch.undo()
    rebuilt = workspace.checkout("HEAD", tmp_path / "rebuilt", options=CPU)
    assert written.verified and written.weights_fingerprint == rebuilt.weights_fingerprint
    assert state_fingerprint(load_model(tmp_path / "shared", CPU).model) == rebuilt.weights_fingerprint
    marker = json.loads((tmp_path / "shared" / "factsmith.json").read_text())
    assert marker == {**json.loads((tmp_path / "rebuilt" / "factsmith.json").read_text())}
    assert marker["runs"] == 2 and written.lm is live.lm


def test_a_model_whose_weights_moved_is_refused_and_nothing_is_written(workspace, live, tmp_path):
    with torch.no_grad():
        next(live.lm.model.parameters()).view(-1)[0] += 1.0  # a stray change, e.g. a preview not undone
    with pytest.raises(VerificationError, match="not those recorded for commit"):
        workspace.save_loaded(live.lm, "HEAD", tmp_path / "shared")
    assert not (tmp_path / "shared").exists()


def test_another_commits_state_is_refused(workspace, live, tmp_path):
    with pytest.raises(VerificationError, match="build the commit from the base"):
        workspace.save_loaded(live.lm, "ROOT", tmp_path / "root")
    assert not (tmp_path / "root").exists()
