"""What the faster checkout still catches: forged or mismatched records, a changed model passed
in (checked once, at the end, when a record exists), and corrupt or missing delta bytes."""

import pytest

from core.ledger import LedgerError, VerificationError
from core.model.fingerprint import state_fingerprint
from core.model.loading import LoadOptions
from tests.core.ledger.helpers import add_run_approve, make_facts

CPU = LoadOptions(device="cpu")
# not one the deltas touch: a change there can be rounded away by the additions, and then the
# result is the recorded state exactly (what is checked is the result)
UNTOUCHED = "transformer.h.0.mlp.c_fc.weight"


@pytest.fixture
def committed(workspace):
    runs = add_run_approve(workspace, make_facts(6))
    workspace.commit("six edits")
    workspace.checkout("ROOT", options=CPU)  # records the base weights
    return workspace, runs


def _forge(ws, state: str, weights: str = "forged") -> None:
    ws._store.db.execute("INSERT INTO weights VALUES (?, 'float32', 'cpu', ?, 'mallory', 'then')", (state, weights))


def _nudged(lm) -> str:
    """Change one weight of ``lm`` by one step, as a stray edit would; its new fingerprint."""
    import torch

    with torch.no_grad():
        p = dict(lm.model.named_parameters())[UNTOUCHED]
        p[0, 0] = torch.nextafter(p[0, 0], torch.tensor(1.0))
    return state_fingerprint(lm.model)


def test_a_record_the_replay_misses_is_refused_and_the_model_passed_in_put_back(committed, tiny_lm):
    ws, _ = committed
    _forge(ws, ws.head().state_fingerprint)
    lm = tiny_lm("gpt2")
    base = state_fingerprint(lm.model)
    with pytest.raises(VerificationError, match=r"recorded as forged"):
        ws.checkout("HEAD", lm=lm)
    assert state_fingerprint(lm.model) == base
    with pytest.raises(VerificationError, match=r"recorded as forged"):
        ws.checkout("HEAD", options=CPU)


def test_a_changed_model_passed_in_is_caught_after_a_replay_against_a_record(committed, tiny_lm):
    ws, _ = committed
    assert not ws.checkout("HEAD", options=CPU).verified  # records HEAD: the start is not checked first
    lm = tiny_lm("gpt2")
    changed = _nudged(lm)
    with pytest.raises(VerificationError, match=r"has been changed since it was loaded"):
        ws.checkout("HEAD", lm=lm)
    assert state_fingerprint(lm.model) == changed  # the replay was undone, the stray change kept


def test_a_changed_model_passed_in_is_caught_before_a_replay_with_nothing_recorded(committed, tiny_lm):
    ws, runs = committed
    lm = tiny_lm("gpt2")
    _nudged(lm)
    with pytest.raises(VerificationError, match=r"has been changed since it was loaded"):
        ws.revert([f"run:{runs[2].id}"], "a state never built", lm=lm)
    assert len(ws.show("HEAD").runs) == 6


def test_a_pristine_model_passed_in_meets_the_record(committed, tiny_lm):
    ws, _ = committed
    recorded = ws.checkout("HEAD", options=CPU).weights_fingerprint
    again = ws.checkout("HEAD", lm=tiny_lm("gpt2"))
    assert again.verified and again.weights_fingerprint == recorded


def _corrupt_inline(ws, sha: str) -> None:
    """Flip the last byte of a stored delta (its tensor data), as a failing disk would."""
    db = ws._store.db
    data = bytearray(db.execute("SELECT data FROM deltas WHERE sha256 = ?", (sha,)).fetchone()[0])
    data[-1] ^= 0x01
    db.execute("DROP TRIGGER deltas_no_update")
    db.execute("UPDATE deltas SET data = ? WHERE sha256 = ?", (bytes(data), sha))


def test_a_corrupt_delta_stops_checkout_and_revert(committed):
    ws, runs = committed
    ws.checkout("HEAD", options=CPU)  # a record exists: the bytes are still checked
    _corrupt_inline(ws, runs[3].delta_sha256)
    with pytest.raises(LedgerError, match=rf"delta {runs[3].delta_sha256[:12]} .* is corrupt"):
        ws.checkout("HEAD", options=CPU)
    with pytest.raises(LedgerError, match=r"is corrupt"):
        ws.revert([f"run:{runs[0].id}"], "needs the corrupt one", options=CPU)
    assert ws.checkout("HEAD~1", options=CPU).runs == 0  # ROOT: no deltas read


def test_a_delta_stored_under_another_hash_is_refused(committed):
    ws, runs = committed
    db = ws._store.db
    other = db.execute("SELECT data FROM deltas WHERE sha256 = ?", (runs[1].delta_sha256,)).fetchone()[0]
    db.execute("DROP TRIGGER deltas_no_update")
    db.execute("UPDATE deltas SET data = ? WHERE sha256 = ?", (other, runs[4].delta_sha256))
    with pytest.raises(LedgerError, match=r"its header records the hash " + runs[1].delta_sha256[:12]):
        ws.checkout("HEAD", options=CPU)


def test_a_missing_delta_is_named(committed):
    ws, runs = committed
    db = ws._store.db
    db.execute("PRAGMA foreign_keys = OFF")
    db.execute("DROP TRIGGER deltas_no_delete")
    db.execute("DELETE FROM deltas WHERE sha256 = ?", (runs[5].delta_sha256,))
    with pytest.raises(LedgerError, match=rf"no delta {runs[5].delta_sha256[:12]} is stored"):
        ws.checkout("HEAD", options=CPU)


def test_deltas_in_files_are_read_and_checked_too(tmp_path, tiny_model_dir):
    from core.ledger import Workspace

    ws = Workspace.create(tmp_path / "files.factsmith", tiny_model_dir("gpt2"), author="alice")
    object.__setattr__(ws._store, "inline_limit", 100)  # every delta counts as large
    runs = add_run_approve(ws, make_facts(3))
    ws.commit("three edits in files")
    assert ws.checkout("HEAD", options=CPU).runs == 3
    path = tmp_path / "files.factsmith.deltas" / runs[1].delta_sha256[:2] / f"{runs[1].delta_sha256}.safetensors"
    path.write_bytes(path.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(LedgerError, match=rf"delta {runs[1].delta_sha256[:12]} .* is corrupt"):
        ws.checkout("HEAD", options=CPU)
    path.unlink()
    with pytest.raises(LedgerError, match=r"is missing: expected the file"):
        ws.checkout("HEAD", options=CPU)
    ws.close()
