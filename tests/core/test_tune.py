"""Tuning a method's preset for the user's own model: the split, the grid, the objective,
the model left bit-identical (also on cancel), the stored preset and its errors, the CLI."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from core.cli.main import main
from core.facts.fact import Fact
from core.methods import get_method
from core.methods.ft import FTHyperParams
from core.methods.hparams import as_dict
from core.methods.rome import ROMEHParams
from core.methods.tune_grids import GRIDS, Axis, grid_points
from core.model.fingerprint import state_fingerprint
from core.util.progress import Cancelled, Progress
from core.workflows.tune import Candidate, HeldOut, Scores, TuneError, TuneResult, choose, split_facts, tune
from core.workflows.tune_store import (
    TunedPresetError,
    load_tuned_preset,
    preset_path,
    require_tuned_preset,
    tune_and_save,
    tuned_preset,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

_ROWS = [("Berlin", "Berlin is a city in", "Japan"), ("The Space Needle", "The Space Needle is in", "Paris"),
         ("Toko Yasuda", "Toko Yasuda plays the", "piano"), ("Danielle Darrieux",
                                                            "Danielle Darrieux's mother tongue is", "German"),
         ("The Eiffel Tower", "The Eiffel Tower is located in", "Seattle"),
         ("Japan", "The currency of Japan is the", "Euro")]
FACTS = [Fact.create(subject=s, prompt=p, target_new=t, paraphrases=[f"In short, {p}"],
                     locality=[{"prompt": "The capital of France is", "answer": "Paris"},
                               {"prompt": "The official language of Germany is", "answer": "German"}])
         for s, p, t in _ROWS]
FAST = (Axis("lr", "scale", (1.0, 0.1), "test: the preset's lr and a tenth of it"),)


@pytest.fixture(autouse=True)
def _data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("FACTSMITH_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def fast_base(lm):
    return dataclasses.replace(get_method("ft-m").preset(lm), steps=5)


def test_split_is_by_subject_deterministic_and_both_parts_non_empty():
    tune_part, check = split_facts(FACTS)
    again = split_facts(list(reversed(FACTS)))
    assert {f.id for f in tune_part} == {f.id for f in again[0]} and {f.id for f in check} == {f.id for f in again[1]}
    assert tune_part and check and len(tune_part) + len(check) == len(FACTS)
    assert not {f.subject for f in tune_part} & {f.subject for f in check}
    subjects = len({f.subject for f in FACTS})
    assert len({f.subject for f in check}) == max(1, round(subjects / 3)), "a third of the subjects is held out"
    six = [Fact.create(subject=f"S{i}", prompt=f"S{i} is in", target_new="X") for i in range(6)]
    assert [len(part) for part in split_facts(six)] == [4, 2]
    same_subject = [dataclasses.replace(FACTS[0], target_new=t) for t in ("Japan", "Paris", "Seattle", "Euro")]
    one, other = split_facts([Fact.create(**f.to_dict()) for f in same_subject])
    assert one and other, "a single subject is split by fact"
    with pytest.raises(TuneError, match="at least 4 facts"):
        split_facts(FACTS[:3])


def test_grid_starts_at_the_preset_and_stays_inside_the_model():
    preset = ROMEHParams(layer=0, v_lr=5.0, clamp_norm_factor=12.0)
    points = grid_points(preset, GRIDS["rome"], n_layers=4)
    assert points[0].distance == 0 and points[0].values == {"layer": 0, "v_lr": 5.0, "clamp_norm_factor": 12.0}
    assert {p.values["layer"] for p in points} == {0, 1}, "layer -1 is dropped"
    assert len(points) == 2 * 2 * 2 and len({tuple(p.values.items()) for p in points}) == len(points)
    assert [p.distance for p in points] == sorted(p.distance for p in points)
    ft = grid_points(FTHyperParams(layers=(0, 1), lr=1e-2, steps=25), GRIDS["ft-m"], n_layers=4)
    assert {p.values["norm_constraint"] for p in ft} == {None, 5e-3} and {p.values["lr"] for p in ft} == {1e-2, 3e-2}
    with pytest.raises(ValueError, match="not hyperparameters"):
        grid_points(preset, (Axis("lr", "scale", (1.0,), "ft's field, not rome's"),), 4)


# quick bases for random tiny models (mechanics, not quality), as in each method's own tests
_FAST_BASES = {
    "rome": dict(layer=1, v_steps=3, prefix_counts=(), prefix_lengths=(), essence_samples=0, stats_tokens=300),
    "memit": dict(layers=(1, 2), v_steps=3, prefix_counts=(), prefix_lengths=(), essence_samples=0,
                  stats_tokens=300),
    "ft-l": dict(steps=3), "ft-m": dict(steps=3), "ice": dict(steps=2, layers=(1, 2), samples=1),
    "grace": dict(layer=1, steps=3),
    "alphaedit": dict(layers=(1, 2), v_steps=3, prefix_counts=(), prefix_lengths=(), essence_samples=0,
                      stats_tokens=300, nullspace_threshold=1e6, l2=1e-3),
}


@pytest.mark.parametrize("method", sorted(GRIDS))
def test_every_methods_grid_runs_on_a_tiny_model(tiny_lm, method):
    lm = tiny_lm("gpt2")
    base = dataclasses.replace(get_method(method).preset(lm), **_FAST_BASES[method])
    points = grid_points(base, GRIDS[method], lm.info.layers)
    assert 4 <= len(points) <= 18 and points[0].distance == 0
    assert all(axis.why for axis in GRIDS[method])
    before = state_fingerprint(lm.model)
    first_axis = GRIDS[method][:1]  # one axis keeps this quick; the whole grid was checked above
    result = tune(lm, method, FACTS[:4], axes=first_axis, base=base)
    assert state_fingerprint(lm.model) == before
    assert all(c.error is None for c in result.candidates), [c.error for c in result.candidates]
    assert result.hparams == as_dict(dataclasses.replace(base, **result.best.values))


def _candidate(index, reliability, generality, locality, distance=1):
    return Candidate(index, {}, distance, Scores(reliability, generality, locality, 3), 0.0)


def test_objective_gates_on_reliability_then_balances_generality_and_locality():
    won = [_candidate(0, 1.0, 0.5, 0.5, 0), _candidate(1, 0.96, 0.9, 0.9), _candidate(2, 0.5, 1.0, 1.0)]
    assert choose(won) == (1, 0.95)
    nobody = [_candidate(0, 0.8, 0.5, 0.5, 0), _candidate(1, 0.6, 1.0, 1.0), _candidate(2, 0.78, 0.6, 0.6)]
    assert choose(nobody)[0] == 2 and choose(nobody)[1] == pytest.approx(0.75)
    tie = [_candidate(0, 1.0, 0.8, 0.8, 2), _candidate(1, 1.0, 0.8, 0.8, 1)]
    assert choose(tie)[0] == 1, "a tie goes to the candidate closer to the preset"
    failed = Candidate(0, {}, 0, None, 0.0, "boom")
    with pytest.raises(TuneError, match="every candidate failed"):
        choose([failed])


def _result(winner: int, preset: Scores, tuned: Scores, bar: float = 0.95) -> TuneResult:
    candidates = (_candidate(0, 1.0, 0.5, 0.5, 0), _candidate(1, 1.0, 0.6, 0.6))
    return TuneResult("ft-m", "m", "f" * 64, (), (), (), candidates, winner, bar, {}, HeldOut(preset, tuned), 0.0)


def test_a_tuned_preset_improves_only_when_it_beats_the_default_on_the_held_out_facts():
    """Trial 44: held-out figures equal to the default's were saved and offered as a tuned preset."""
    same = Scores(1.0, 0.25, 0.88, 2)
    assert not _result(1, same, Scores(1.0, 0.25, 0.88, 2)).improves, "a tie"
    assert not _result(1, same, Scores(1.0, 0.2501, 0.8801, 2)).improves, "below the two decimals shown"
    assert not _result(1, same, Scores(1.0, 0.254, 0.884, 2)).improves, "shown as 0.25 and 0.88 as well"
    assert _result(1, same, Scores(1.0, 0.30, 0.88, 2)).improves
    assert not _result(1, same, Scores(0.9, 0.9, 0.9, 2)).improves, "better balance, below the reliability bar"
    assert not _result(0, same, same).improves, "the default itself won"
    assert _result(1, Scores(0.9, 0.9, 0.9, 2), Scores(0.96, 0.5, 0.5, 2)).improves, "clears the bar it missed"


def test_a_tuned_preset_no_better_than_the_default_is_not_saved(tiny_lm, monkeypatch):
    import core.workflows.tune as tune_module

    lm = tiny_lm("gpt2")
    monkeypatch.setattr(tune_module.TuneResult, "improves", property(lambda self: False))
    result, saved = tune_and_save(lm, "ft-m", FACTS, axes=FAST, base=fast_base(lm))
    assert saved is None and not preset_path(lm.info.fingerprint, "ft-m").exists()
    assert result.to_dict()["improves"] is False


@pytest.mark.parametrize("family,other", [("llama", "gpt2"), ("gpt2", "llama")])
def test_tune_leaves_the_model_bit_identical_and_the_preset_loads_back(tiny_lm, family, other):
    lm = tiny_lm(family)
    before = state_fingerprint(lm.model)
    events = []
    result, saved = tune_and_save(lm, "ft-m", FACTS, Progress(events.append), always=True, axes=FAST,
                                  base=fast_base(lm))
    assert state_fingerprint(lm.model) == before
    lr = fast_base(lm).lr
    assert [c.values["lr"] for c in result.candidates] == [lr, pytest.approx(lr * 0.1)]
    assert result.candidates[0].is_preset
    assert all(c.scores is not None and c.scores.facts == len(result.tune_ids) for c in result.candidates)
    assert result.held_out.preset.facts == len(result.check_ids) > 0
    assert any("candidate 2 of 2, fact 1 of" in e.message for e in events)
    assert saved.path == preset_path(lm.info.fingerprint, "ft-m") and saved.path.is_file()
    assert load_tuned_preset(lm, "ft-m") == saved
    assert tuned_preset(lm, "ft-m") == dataclasses.replace(fast_base(lm), **result.best.values)
    assert tuned_preset(lm, "rome") is None
    assert tuned_preset(tiny_lm(other), "ft-m") is None, "the preset is tied to the model's fingerprint"
    stored = json.loads(saved.path.read_text())
    assert stored["facts"] == {"tuning": len(result.tune_ids), "held_out": len(result.check_ids)}
    assert stored["method"] == "ft-m" and stored["created"][:4].isdigit()


def test_cancel_midway_saves_nothing_and_leaves_the_model_unchanged(tiny_lm, _data_dir):
    lm = tiny_lm("gpt2")
    before = state_fingerprint(lm.model)
    progress = Progress(lambda e: e.message.startswith("candidate 2 of 2") and progress.cancel())
    with pytest.raises(Cancelled):
        tune_and_save(lm, "ft-m", FACTS, progress, axes=FAST, base=fast_base(lm))
    assert state_fingerprint(lm.model) == before
    assert not preset_path(lm.info.fingerprint, "ft-m").exists()
    assert not (_data_dir / "tuned-presets").exists() or not any((_data_dir / "tuned-presets").iterdir())


def test_too_few_facts_are_refused_before_any_edit(tiny_lm):
    with pytest.raises(TuneError, match="at least 4 facts"):
        tune(tiny_lm("gpt2"), "ft-m", FACTS[:3], axes=FAST)


def _write_facts(path, facts):
    path.write_text("".join(json.dumps(f.to_dict()) + "\n" for f in facts), encoding="utf-8")
    return path


def test_cli_tune_json_then_edit_with_the_tuned_preset(tiny_model_dir, tmp_path, capsys):
    folder, facts = tiny_model_dir("gpt2"), _write_facts(tmp_path / "facts.jsonl", FACTS)
    model = ["--model", str(folder), "--device", "cpu"]
    assert main(["tune", *model, "--method", "ft-m", "--facts", str(facts), "--json", "--budget", "5",
                 "--save-anyway"]) == 0
    tuned = json.loads(capsys.readouterr().out)
    assert tuned["tuning_facts"] + tuned["held_out_facts"] == 5 and len(tuned["candidates"]) == 8
    assert tuned["saved_to"] and json.loads(Path(tuned["saved_to"]).read_text())["hparams"] == tuned["hparams"]
    assert main(["edit", *model, "--method", "ft-m", "--facts", str(facts), "--limit", "1", "--preset", "tuned",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["hparams"] == tuned["hparams"]
    assert main(["edit", *model, "--method", "rome", "--facts", str(facts), "--limit", "1", "--preset",
                 "tuned"]) == 2
    err = capsys.readouterr().err
    assert "no tuned rome preset" in err and "factsmith tune" in err and "Traceback" not in err


def small_grid(monkeypatch) -> None:
    """Tune on two candidates (ft-m's preset and twice its steps, which wins on the tiny Llama:
    generality .95 -> 1.00, locality .50 both); the whole grid's eight run in the JSON test above."""
    import core.workflows.tune as tune_module

    steps = (Axis("steps", "scale", (1.0, 2.0), "test: the preset's steps and twice as many"),)
    monkeypatch.setattr(tune_module, "grid_for", lambda method: steps)


def test_cli_tune_renders_a_table(tiny_model_dir, tmp_path, capsys, monkeypatch):
    small_grid(monkeypatch)
    facts = _write_facts(tmp_path / "facts.jsonl", FACTS)
    assert main(["tune", "--model", str(tiny_model_dir("llama")), "--device", "cpu", "--method", "ft-m",
                 "--facts", str(facts), "--no-save"]) == 0
    out = capsys.readouterr().out
    assert "<- winner" in out and "held out" in out and "default preset" in out and "not saved" in out


def test_corrupt_or_foreign_stored_presets_are_clear_errors(tiny_lm, tiny_model_dir, tmp_path, capsys):
    lm = tiny_lm("gpt2")
    _, saved = tune_and_save(lm, "ft-m", FACTS, always=True, axes=FAST, base=fast_base(lm))
    good = json.loads(saved.path.read_text())
    cases = {"{not json": "cannot be used",
             json.dumps({**good, "fingerprint": "0" * 64}): "not ft-m on",
             json.dumps({**good, "method": "rome"}): "method 'rome'",
             json.dumps({**good, "hparams": {"no_such_field": 1}}): "stored hyperparameter",
             json.dumps({**good, "figures": {}}): "KeyError",
             json.dumps([1, 2]): "not a tuned preset"}
    for text, message in cases.items():
        saved.path.write_text(text, encoding="utf-8")
        with pytest.raises(TunedPresetError, match=message) as caught:
            tuned_preset(lm, "ft-m")
        assert str(saved.path) in str(caught.value) and "delete the file" in str(caught.value)
    facts = _write_facts(tmp_path / "facts.jsonl", FACTS[:1])
    assert main(["edit", "--model", str(tiny_model_dir("gpt2")), "--device", "cpu", "--method", "ft-m",
                 "--facts", str(facts), "--preset", "tuned"]) == 2
    err = capsys.readouterr().err
    assert "cannot be used" in err and "Traceback" not in err
    saved.path.unlink()
    with pytest.raises(TunedPresetError, match="no tuned ft-m preset"):
        require_tuned_preset(lm, "ft-m")


@pytest.mark.slow
def test_tuned_ft_m_on_the_demo_model_is_no_worse_on_its_tuning_facts(demo_lm):
    """The search includes the preset, so the winner cannot score worse by the objective on
    the facts it tuned on; on the held-out ones FT-M's locality is the point (issue 13)."""
    from core.facts.io import read_facts
    from core.util.paths import demo_model_dir

    facts = read_facts(demo_model_dir() / "dev_edits.jsonl")[:9]
    before = state_fingerprint(demo_lm.model)
    # the unconstrained FT-M preset of the demo model when this was measured, pinned so a
    # change of the default preset does not move the floor below
    base = FTHyperParams(layers=(0, 1, 2, 3), lr=1e-2, steps=25, norm_constraint=None)
    axes = (Axis("lr", "scale", (1.0, 0.1), "the grid FT-M had when this was measured"),
            Axis("steps", "scale", (1.0, 2.0), "likewise"), Axis("norm_constraint", "values", (None, 5e-3), "likewise"))
    result = tune(demo_lm, "ft-m", facts, base=base, axes=axes)
    assert state_fingerprint(demo_lm.model) == before
    preset, best = result.candidates[0], result.best
    assert preset.is_preset and best.scores.reliability >= result.bar
    if preset.scores.reliability >= result.bar:
        assert best.scores.balance >= preset.scores.balance
    else:
        assert best.scores.reliability > preset.scores.reliability
    held = result.held_out
    # Regression floor, not a target: measured 0.94 (tuned) against 0.25 (default) on these
    # 4 held-out facts; the default FT-M preset rewrites other answers, the tuned one (lr/10) does not.
    assert held.tuned.locality >= held.preset.locality + 0.3
    assert held.tuned.reliability >= 0.9


def test_cli_says_a_tuned_preset_no_better_than_the_default_was_not_saved(tiny_model_dir, tmp_path, capsys,
                                                                          monkeypatch):
    import core.workflows.tune as tune_module

    small_grid(monkeypatch)
    monkeypatch.setattr(tune_module.TuneResult, "improves", property(lambda self: False))
    facts = _write_facts(tmp_path / "facts.jsonl", FACTS)
    model = ["--model", str(tiny_model_dir("llama")), "--device", "cpu"]
    assert main(["tune", *model, "--method", "ft-m", "--facts", str(facts)]) == 0
    out = capsys.readouterr().out
    assert "not saved: on the held-out facts the tuned preset does no better than the default" in out
    assert "--save-anyway" in out
    with pytest.raises(SystemExit):  # argparse: not allowed together
        main(["tune", *model, "--method", "ft-m", "--facts", str(facts), "--no-save", "--save-anyway"])
    assert "not allowed with" in capsys.readouterr().err
