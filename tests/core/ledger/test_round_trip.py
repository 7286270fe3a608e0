"""The issue's round trip: import 20 facts, run each, approve 15, reject 5 with notes, commit,
export a patch, apply it to a fresh copy of the model (its weights equal a checkout of the
commit), then revert 3 of the 15 (the result equals a fresh commit of the other 12).

Fast on the tiny GPT-2 with a stand-in editor; slow with ROME on the demo model.
"""

import importlib.util
import json
import shutil

import pytest

from core.ledger import Workspace, apply_patch
from core.model.fingerprint import state_fingerprint
from core.model.loading import LoadOptions, load_model
from tests.core.ledger.helpers import make_facts

pytestmark = pytest.mark.usefixtures("author_key")  # patches signed by a test key

CPU = LoadOptions(device="cpu")


def round_trip(tmp_path, model_dir, facts_file, method: str) -> None:
    ws = Workspace.create(tmp_path / "trip.factsmith", model_dir, author="reviewer")
    ids = ws.import_file(facts_file).added
    assert len(ids) == 20
    runs = ws.run_edits(ids, method, options=CPU)
    for fact_id in ids[:15]:
        ws.review(fact_id, "approve", note="checked")
    for fact_id in ids[15:]:
        ws.review(fact_id, "reject", note="source disagrees")
    commit = ws.commit("15 approved edits")
    assert len(commit.applied) == 15
    checkout = ws.checkout("HEAD", options=CPU)

    ws.export_patch(tmp_path / "trip.patch")
    shutil.copytree(model_dir, tmp_path / "fresh-copy", ignore=shutil.ignore_patterns("factsmith.json"))
    patched = apply_patch(tmp_path / "trip.patch", tmp_path / "fresh-copy", tmp_path / "patched", CPU)
    assert patched.weights_fingerprint == checkout.weights_fingerprint
    assert state_fingerprint(load_model(tmp_path / "patched", CPU).model) == checkout.weights_fingerprint

    reverted = ws.revert([ids[1], ids[6], ids[12]], "drop three", options=CPU)
    kept = [i for n, i in enumerate(ids[:15]) if n not in (1, 6, 12)]
    fresh = Workspace.create(tmp_path / "fresh.factsmith", model_dir, author="someone else")
    fresh.add_facts([ws.fact(i).fact for i in kept])
    by_fact = {r.fact_ids[0]: r for r in runs}
    for fact_id in kept:  # the very same deltas, recorded afresh
        run = by_fact[fact_id]
        fresh.record_run(facts=[fact_id], delta=ws.delta(run.id), computed_on=run.computed_on, method=run.method,
                         hparams=run.hparams, metrics=run.metrics, seconds=run.seconds, environment=run.environment)
        fresh.review(fact_id, "approve")
    twelve = fresh.commit("the other 12")
    assert twelve.state_fingerprint == reverted.commit.state_fingerprint
    assert fresh.checkout("HEAD", options=CPU).weights_fingerprint == reverted.weights_fingerprint
    assert ws.check() == [] and fresh.check() == []
    ws.close()
    fresh.close()


def test_round_trip_on_the_tiny_model(tmp_path, tiny_model_dir, fake_editing):
    facts_file = tmp_path / "twenty.jsonl"
    facts_file.write_text("".join(json.dumps(f.to_dict()) + "\n" for f in make_facts(20)))
    round_trip(tmp_path, tiny_model_dir("gpt2"), facts_file, "fake")


@pytest.mark.slow
def test_round_trip_with_rome_on_the_demo_model(tmp_path):
    from core.util.paths import demo_edits_file, demo_model_dir

    if importlib.util.find_spec("core.workflows.editing") is None:
        pytest.skip("core.workflows.editing (compute_edit) is not written yet")
    if not (demo_model_dir() / "model.safetensors").exists() or not demo_edits_file().exists():
        pytest.skip("the demo model is not built yet: python -m core.demo_build")
    lines = [line for line in demo_edits_file().read_text(encoding="utf-8").splitlines() if line.strip()][:20]
    (tmp_path / "demo20.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    round_trip(tmp_path, demo_model_dir(), tmp_path / "demo20.jsonl", "rome")
