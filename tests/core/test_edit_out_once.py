"""`factsmith edit --mode independent --out DIR` saves the very edit it reports (review 46: it
computed the edit a second time to save it, which a non-deterministic method need not repeat)."""

import json

from core.cli.main import main
from core.model.fingerprint import state_fingerprint
from core.model.loading import LoadOptions, load_model


def test_the_saved_model_holds_the_reported_edit_computed_once(tmp_path, tiny_model_dir, capsys, monkeypatch):
    import core.workflows.editing as editing
    import core.workflows.runs as runs
    from core.edit.deltas import apply_delta

    computed = []
    real = runs.compute_edit

    def counting(*args, **kwargs):
        outcome = real(*args, **kwargs)
        computed.append(outcome.delta)
        return outcome

    monkeypatch.setattr(runs, "compute_edit", counting)
    monkeypatch.setattr(editing, "compute_edit", counting)  # wherever the CLI would take it from
    facts = tmp_path / "one.jsonl"
    facts.write_text(json.dumps({"subject": "France", "prompt": "The capital of France is",
                                 "target_new": "Berlin"}) + "\n")
    out = tmp_path / "edited"
    code = main(["edit", "--model", str(tiny_model_dir("gpt2")), "--device", "cpu", "--facts", str(facts),
                 "--method", "ft-l", "--set", "steps=2", "--out", str(out), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and len(computed) == 1
    assert report["edits"][0]["delta_sha256"] == computed[0].sha256 and report["saved_to"] == str(out)
    base = load_model(tiny_model_dir("gpt2"), LoadOptions(device="cpu"))
    apply_delta(base.model, computed[0])
    assert state_fingerprint(load_model(out, LoadOptions(device="cpu")).model) == state_fingerprint(base.model)
