"""Edit runs: stored exactly, deltas content-addressed, inline or as files, always checked."""

import pytest

from core.ledger import LedgerError, Workspace
from tests.core.ledger.helpers import hand_delta, make_fact, record_hand_run


def test_a_run_is_stored_exactly(workspace):
    fact = make_fact(1)
    workspace.add_facts([fact])
    run = record_hand_run(workspace, fact, seed=3, efficacy=0.75)
    again = workspace.run(run.id)
    assert again == run
    assert (run.method, run.fact_ids, run.seed, run.author) == ("hand", (fact.id,), 3, "alice")
    assert run.metrics["post"] == {"efficacy": 0.75} and run.metrics["protocol"] == "test-protocol"
    assert run.previews["after"] == " City1" and run.environment["device"] == "cpu"
    assert run.computed_on == workspace.head().state_fingerprint
    delta = workspace.delta(run.id)
    assert delta.sha256 == run.delta_sha256 == hand_delta(fact, 3).sha256
    assert workspace.runs(fact.id) == [run]


def test_the_same_delta_is_stored_once(workspace):
    fact = make_fact(1)
    workspace.add_facts([fact])
    first = record_hand_run(workspace, fact)
    other = workspace.record_run(facts=[fact], delta=hand_delta(fact), computed_on=first.computed_on,
                                 hparams={"seed": 1}, overrides={"layer": "1"})
    assert first.id != other.id and first.delta_sha256 == other.delta_sha256
    assert workspace._store.scalar("SELECT COUNT(*) FROM deltas") == 1


def test_a_repeated_preview_is_a_run_of_its_own_sharing_the_delta(workspace):
    """The reviewer decides on the run the window shows: repeating an identical preview after
    another one must give the newest run, not hand back the older identical one."""
    fact = make_fact(1)
    workspace.add_facts([fact])
    first = record_hand_run(workspace, fact)
    other = workspace.record_run(facts=[fact], delta=hand_delta(fact), computed_on=first.computed_on,
                                 hparams={"seed": 1}, overrides={"layer": "1"})
    again = record_hand_run(workspace, fact)
    assert [r.id for r in workspace.runs(fact.id)] == [first.id, other.id, again.id]
    assert again.delta_sha256 == first.delta_sha256
    assert workspace._store.scalar("SELECT COUNT(*) FROM deltas") == 1


def test_a_run_needs_its_facts_in_the_workspace(workspace):
    fact = make_fact(1)
    with pytest.raises(LedgerError, match=r"not in workspace"):
        workspace.record_run(facts=[fact], delta=hand_delta(fact), computed_on="x")
    assert workspace.runs() == []


def test_the_delta_must_be_for_the_run_facts(workspace):
    a, b = make_fact(1), make_fact(2)
    workspace.add_facts([a, b])
    with pytest.raises(LedgerError, match=r"computed for facts"):
        workspace.record_run(facts=[b], delta=hand_delta(a), computed_on="x")


def test_large_deltas_go_to_files_beside_the_database(tmp_path, tiny_model_dir):
    ws = Workspace.create(tmp_path / "ws.factsmith", tiny_model_dir("gpt2"), author="alice")
    object.__setattr__(ws._store, "inline_limit", 100)  # every delta counts as large
    fact = make_fact(1)
    ws.add_facts([fact])
    run = record_hand_run(ws, fact, dense=True)
    files = list((tmp_path / "ws.factsmith.deltas").rglob("*.safetensors"))
    assert [f.name for f in files] == [f"{run.delta_sha256}.safetensors"]
    assert ws._store.scalar("SELECT storage FROM deltas") == "file"
    assert ws.delta(run.id).sha256 == run.delta_sha256
    files[0].write_bytes(files[0].read_bytes()[:-8] + b"\0" * 8)  # flip the last bytes
    with pytest.raises(LedgerError, match=r"is corrupt"):
        ws.delta(run.id)
    files[0].unlink()
    with pytest.raises(LedgerError, match=r"is missing: expected the file"):
        ws.delta(run.id)
    ws.close()


def test_a_commit_takes_the_approved_run_not_a_later_preview(workspace):
    fact = make_fact(1)
    workspace.add_facts([fact])
    approved = record_hand_run(workspace, fact, seed=1)
    workspace.review(fact.id, "approve")
    later = record_hand_run(workspace, fact, seed=2)  # previewed again after the approval
    assert [r.id for r in workspace.commit_candidates()] == [approved.id]
    assert workspace.commit("the approved edit").applied == (approved.id,) != (later.id,)
