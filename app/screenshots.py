"""Save screenshots of the app's main states: ``python -m app.screenshots [FOLDER]``.

Runs offscreen with the demo model; writes PNGs (default: docs/).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def _wait(app, predicate, timeout_s: float = 300.0) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not reach the expected state in time")
        app.processEvents()
        time.sleep(0.02)


def capture(folder: Path) -> list[Path]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    folder.mkdir(parents=True, exist_ok=True)
    window = MainWindow()
    window.resize(900, 560)
    window.show()
    window.start()
    _wait(app, lambda: window.lm is not None)
    for prompt in ("The capital of France is", "Lyon is a city in", "The currency of Japan is the"):
        window.prompt_panel.input.setText(prompt)
        window.prompt_panel.submit()
        _wait(app, lambda: not window.lane.busy)
    shots = [folder / "main-window.png"]
    window.grab().save(str(shots[0]))
    window.close()
    return shots


if __name__ == "__main__":
    for path in capture(Path(sys.argv[1] if len(sys.argv) > 1 else "docs")):
        print(path)
