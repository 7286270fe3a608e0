"""A revert keeps later edits as stored, though one may have been computed with the reverted
edit in place; `recompute` takes such an edit out and computes it again on the new HEAD, with
the method and hyperparameters it had, ready for the next commit (issue 16)."""

import pytest

from core.ledger import LedgerError
from core.model.loading import LoadOptions
from tests.core.ledger.helpers import add_run_approve, make_facts

CPU = LoadOptions(device="cpu")
FAST = {"steps": "3"}


def _history(ws):
    """Run a (by hand) committed on ROOT, run b (FT-M) computed on a's state and committed, then a
    reverted: b was fitted to weights that held a."""
    (a,) = add_run_approve(ws, make_facts(1))
    ws.commit("a")
    (fact,) = make_facts(1, start=1)
    ws.add_facts([fact])
    (b,) = ws.run_edits([fact.id], "ft-m", FAST, options=CPU)
    ws.review(fact.id, "approve")
    ws.commit("b")
    reverted = ws.revert([f"run:{a.id}"], "drop a", options=CPU)
    assert ws.built_on_dropped(reverted.commit) == {b.id: (a.id,)}
    return a, b


def test_recompute_reverts_the_edit_and_computes_it_again_on_the_new_head(workspace):
    _, b = _history(workspace)
    result = workspace.recompute([b.id], "b again, without a", options=CPU)
    (again,) = result.runs
    assert result.revert.commit.dropped == (b.id,) and workspace.head_runs() == []
    assert again.computed_on == result.revert.commit.state_fingerprint, "computed on the new HEAD"
    assert (again.method, again.hparams, again.fact_ids) == (b.method, b.hparams, b.fact_ids)
    assert again.delta_sha256 != b.delta_sha256, "fitted to other weights"
    committed = workspace.commit("b on the state without a")
    assert committed.applied == (again.id,), "the facts are still approved: the next commit lands the new run"
    assert workspace.check() == []


def test_only_edits_head_holds_are_recomputed_and_the_cli_says_what_to_do(workspace, capsys, monkeypatch):
    from core.cli import main

    a, b = _history(workspace)
    with pytest.raises(LedgerError, match=rf"run {a.id} not in HEAD"):
        workspace.recompute([a.id], "a is gone", options=CPU)
    assert len(workspace.log()) == 4, "nothing committed"
    monkeypatch.setenv("FACTSMITH_WORKSPACE", str(workspace.path))
    path = workspace.path
    workspace.close()
    assert main(["recompute", "b", "-m", "x"]) == 2
    assert "'b' is not a run (run:N or N" in capsys.readouterr().err
    assert main(["recompute", f"run:{b.id}", "-m", "b again", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert f"runs {b.id} taken out" in out and "computed again on it:" in out and "factsmith commit -m" in out
    from core.ledger import Workspace

    with Workspace.open(path) as ws:
        assert [c.kind for c in ws.log()][:2] == ["revert", "revert"]
        assert len(ws.commit_candidates()) == 1, "the new run, ready for the next commit"


def test_an_edit_that_cannot_be_computed_again_leaves_the_log_as_it_was(workspace, monkeypatch):
    """Every edit is computed before the revert is written: a failure halfway loses nothing."""
    import core.workflows.editing as editing
    from core.methods import EditError

    _, b = _history(workspace)
    before = [c.id for c in workspace.log()]

    def fails(*args, **kwargs):
        raise EditError("the method cannot run any more")

    monkeypatch.setattr(editing, "compute_edit", fails)
    with pytest.raises(EditError, match="cannot run any more"):
        workspace.recompute([b.id], "b again", options=CPU)
    assert [c.id for c in workspace.log()] == before and workspace.head_runs() == [b.id]
    assert [r.id for r in workspace.runs()][-1] == b.id, "no new run recorded"


def test_the_revert_and_the_new_runs_land_together_or_not_at_all(workspace, monkeypatch):
    """The review: a failure between landing the revert and recording the runs took the edits out
    and lost what was computed. Both are written in one transaction now."""
    import core.ledger.recompute as recompute

    _, b = _history(workspace)
    before, runs = [c.id for c in workspace.log()], [r.id for r in workspace.runs()]

    def disk_full(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(recompute, "record_outcome", disk_full)
    with pytest.raises(OSError, match="No space left"):
        workspace.recompute([b.id], "b again", options=CPU)
    assert [c.id for c in workspace.log()] == before and [r.id for r in workspace.runs()] == runs


def test_a_traced_layer_is_traced_again_and_a_retrained_editor_is_refused(workspace):
    from types import SimpleNamespace

    from core.ledger.recompute import _check_same_editor
    from core.workflows.auto_layer import auto_override

    (a,) = add_run_approve(workspace, make_facts(1))
    workspace.commit("a")
    (fact,) = make_facts(1, start=1)
    workspace.add_facts([fact])
    (b,) = workspace.run_edits([fact.id], "ft-m", {**FAST, **auto_override("ft-m")}, options=CPU)
    workspace.review(fact.id, "approve")
    workspace.commit("b")
    workspace.revert([f"run:{a.id}"], "drop a", options=CPU)
    (again,) = workspace.recompute([b.id], "b again", options=CPU).runs
    assert "auto_layer" in again.environment and again.environment["recomputed_from"] == b.id
    old = SimpleNamespace(id=7, environment={"editor_checkpoint": {"sha256": "a" * 64}})
    _check_same_editor(old, {"sha256": "a" * 64, "path": "mend.safetensors"})
    with pytest.raises(LedgerError, match=r"run 7 was made with the editor checkpoint aaaaaaaaaaaa, but "
                                          r"mend.safetensors now holds bbbbbbbbbbbb"):
        _check_same_editor(old, {"sha256": "b" * 64, "path": "mend.safetensors"})
    # before any computing: the file the run's editor was read from, as it stands now
    from core.ledger.recompute import _editor_file_now

    retrained = workspace.path.parent / "mend.safetensors"
    retrained.write_bytes(b"another editor")
    old.environment["editor_checkpoint"]["path"] = str(retrained)
    with pytest.raises(LedgerError, match=r"aaaaaaaaaaaa, but .*mend.safetensors now holds 6f"):
        _check_same_editor(old, _editor_file_now(old))
    assert _editor_file_now(SimpleNamespace(environment={})) is None, "no trained editor: nothing to check"


def test_a_retrained_editor_is_refused_before_anything_is_rebuilt(workspace, monkeypatch):
    """Review, stop 34: the check ran after the revert's rebuild and after earlier runs were computed."""
    import dataclasses

    from core.ledger import recompute, revert

    _, b = _history(workspace)
    checkpoint = workspace.path.parent / "editor.safetensors"
    checkpoint.write_bytes(b"retrained since")
    used = dataclasses.replace(b, environment={**b.environment,
                                               "editor_checkpoint": {"path": str(checkpoint), "sha256": "a" * 64}})
    monkeypatch.setattr(recompute, "_committed_runs", lambda ws, run_ids: [used])
    monkeypatch.setattr(revert, "rebuilt_without", lambda *a, **k: pytest.fail("rebuilt before the check"))
    log = [c.id for c in workspace.log()]
    with pytest.raises(LedgerError, match=rf"run {b.id} was made with the editor checkpoint aaaaaaaaaaaa"):
        workspace.recompute([b.id], "b again", options=CPU)
    assert [c.id for c in workspace.log()] == log
