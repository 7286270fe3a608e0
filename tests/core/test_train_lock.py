"""Trial 33: a CLI training run and the Train dialog could write the same checkpoint at once,
each overwriting the other's steps. A run holds ``<checkpoint>.lock``; another process is refused."""

import json
import socket
import subprocess
import sys

import pytest

from core.methods.base import EditError
from core.util.pid_lock import lock_path, read_holder
from core.workflows.train import TrainOptions, train_editor
from tests.core.test_mend import FAST, TRAIN


def test_a_checkpoint_another_process_trains_is_refused_and_ours_is_released(tiny_lm, tmp_path):
    lm, out = tiny_lm("gpt2"), tmp_path / "mend.safetensors"
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        lock_path(out).write_text(json.dumps({"pid": other.pid, "host": socket.gethostname(),
                                              "since": "2026-12-06T10:00:00", "program": "factsmith train"}))
        with pytest.raises(EditError, match=rf"being trained by factsmith train \(process {other.pid}"):
            train_editor(lm, "mend", TRAIN, (), TrainOptions(steps=1), out, FAST)
        assert not out.exists(), "nothing was written"
    finally:
        other.kill()
        other.wait()
    seen = []  # the lock is ours while the run trains, and gone after it
    result = train_editor(lm, "mend", TRAIN, (), TrainOptions(steps=2), out, FAST,
                          progress=_watching(lambda: seen.append(read_holder(out))))
    assert result.record.step == 2 and seen and all(h is not None and h.is_this_process() for h in seen)
    assert not lock_path(out).exists()


def _watching(callback):
    from core.util.progress import Progress

    return Progress(lambda event: callback())
