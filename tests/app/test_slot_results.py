"""The PySide6 the project installs keeps count of a slot's True/False result: 6.12.0 did not,
and aborted the interpreter ("bool_dealloc") after a few thousand such calls."""

import os
import subprocess
import sys
import textwrap

from app.slots import no_result

PROBE = textwrap.dedent("""
    import sys
    from PySide6.QtCore import QCoreApplication, QObject, Signal

    class Emitter(QObject):
        fired = Signal()

    app = QCoreApplication([])
    emitter = Emitter()
    emitter.fired.connect(lambda: True)
    before = sys.getrefcount(True)
    for _ in range(5000):
        emitter.fired.emit()
    print(before, sys.getrefcount(True))
""")


def test_a_slot_returning_a_bool_does_not_exhaust_true():
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    before, after = map(int, done.stdout.split())
    assert after >= before - 10, (before, after)


def test_no_result_drops_the_result_and_passes_the_arguments():
    seen = []
    slot = no_result(lambda *args: seen.append(args) or True)
    assert slot("a", 2) is None and seen == [("a", 2)]
