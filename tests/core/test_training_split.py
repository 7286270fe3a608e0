"""The training data rule kept whatever files a run is given (review 47: a request about an
evaluation subject, and a validation file equal to the training file, were taken as they came)."""

from __future__ import annotations

import hashlib

import pytest

from core.facts.fact import Fact
from core.facts.split import is_evaluation_subject, training_split


def _subject(reserved: bool, start: int = 0) -> str:
    for i in range(start, start + 1000):
        name = f"Country{i}"
        if (hashlib.sha256(name.encode()).hexdigest()[0] in "cdef") == reserved:
            return name
    raise AssertionError("no such subject")


def _fact(subject: str) -> Fact:
    return Fact.create(subject=subject, prompt=f"The capital of {subject} is", target_new="Lyon")


def test_evaluation_subjects_and_shared_requests_are_left_out_and_said():
    ok, ok2, reserved = _fact(_subject(False)), _fact(_subject(False, 500)), _fact(_subject(True))
    assert is_evaluation_subject(reserved.subject) and not is_evaluation_subject(ok.subject)
    split = training_split([ok, reserved], [ok, ok2, reserved])
    assert split.train == (ok,) and split.validation == (ok2,)
    assert split.notes == (f"left out 1 request for training about subjects reserved for evaluation (SHA-256 of the "
                           f"name starts with c-f): {reserved.subject}",
                           f"left out 1 about evaluation subjects ({reserved.subject}) and 1 that are training "
                           "requests too from the validation requests")


def test_a_training_file_of_evaluation_subjects_alone_is_refused(tiny_lm, tmp_path):
    from core.methods.base import EditError
    from core.workflows.train import TrainOptions, train_editor

    with pytest.raises(EditError, match="no training requests left: all 1 are about subjects reserved"):
        train_editor(tiny_lm("gpt2"), "mend", [_fact(_subject(True))], (), TrainOptions(steps=1),
                     tmp_path / "m.safetensors")


def test_the_command_line_says_what_it_left_out(tiny_model_dir, tmp_path, capsys):
    import json

    from core.cli.main import main
    from tests.core.test_mend import FAST, TRAIN

    reserved = _fact(_subject(True))
    facts = tmp_path / "train.jsonl"
    facts.write_text("".join(json.dumps(f.to_dict()) + "\n" for f in (*TRAIN, reserved)), encoding="utf-8")
    code = main(["train", "--method", "mend", "--model", str(tiny_model_dir("gpt2")), "--device", "cpu", "--facts",
                 str(facts), "--val", str(facts), "--steps", "2", "--out", str(tmp_path / "m.safetensors"),
                 *[a for k, v in FAST.items() for a in ("--set", f"{k}={v}")]])
    out = capsys.readouterr().out
    assert code == 0 and f"steps on {len(TRAIN)} requests" in out
    assert "note: left out 1 request for training about subjects reserved for evaluation" in out
    assert f"note: left out 1 about evaluation subjects ({reserved.subject}) and {len(TRAIN)} that are training " \
           "requests too from the validation requests" in out
