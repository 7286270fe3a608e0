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


def test_a_lock_taken_between_check_and_write_is_not_overwritten(tmp_path, monkeypatch):
    """The lock file is created only if absent: another process's lock that appears just
    before ours is written stays, and we are refused (it used to be read, then replaced)."""
    from core.util import pid_lock

    target = tmp_path / "mend.safetensors"
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    theirs = json.dumps({"pid": other.pid, "host": socket.gethostname(), "since": "2026-12-06T10:00:00",
                         "program": "factsmith train"})
    real_link = pid_lock.os.link

    def link_after_theirs(source, path):  # the other process wins the race by a hair
        lock_path(target).write_text(theirs)
        real_link(source, path)

    monkeypatch.setattr(pid_lock.os, "link", link_after_theirs)
    try:
        with pytest.raises(pid_lock.LockedError, match=f"process {other.pid}"):
            pid_lock.PidLock(target).acquire()
        assert lock_path(target).read_text() == theirs
        assert [p.name for p in tmp_path.iterdir()] == [lock_path(target).name], "no temporary file left"
    finally:
        other.kill()
        other.wait()
    monkeypatch.setattr(pid_lock.os, "link", real_link)  # its process is gone: the stale lock is taken over
    lock = pid_lock.PidLock(target).acquire()
    assert read_holder(target).is_this_process()
    lock.release()
    assert not lock_path(target).exists()
