"""``factsmith gui --smoke-test``: open the real window, load the model, say so, exit.

The window is the one a user gets (same settings, same workspace, the model loaded
through the normal job lane). On success it prints exactly one line,
``ready: MODEL on DEVICE``, optionally saves a grab of the real window, and exits 0;
a failed load, an error dialog or the timeout exits non-zero with the reason on stderr.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

EXIT_FAILED = 1
EXIT_TIMEOUT = 2


@dataclass
class SmokeOutcome:
    code: int | None = None
    lines: list[str] = field(default_factory=list)

    def finish(self, code: int, line: str) -> None:
        if self.code is None:
            self.code, self.lines = code, [line]


def ready_line(lm) -> str:
    return f"ready: {lm.info.name} on {lm.info.device}"


def _grab(window, path: Path) -> None:
    """The real window as the screen shows it (through the window system), else its render."""
    screen = window.screen()
    pixmap = screen.grabWindow(window.winId()) if screen is not None else None
    if pixmap is None or pixmap.isNull() or _blank(pixmap):
        pixmap = window.grab()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not pixmap.save(str(path)):
        raise OSError(f"could not write {path}")


def _blank(pixmap) -> bool:
    image = pixmap.toImage()
    return image.width() == 0 or len({image.pixel(x, image.height() // 2)
                                      for x in range(0, image.width(), max(1, image.width() // 16))}) == 1


def run_smoke_test(app, window, timeout_s: float, screenshot: Path | None) -> int:
    """Drive the shown window's start; returns the exit code after printing the outcome."""
    from PySide6.QtCore import QTimer

    outcome = SmokeOutcome()
    deadline = QTimer()
    deadline.setSingleShot(True)

    def done(code: int, line: str) -> None:
        # Only the first outcome ends the loop: a late load or timer must not stop
        # whatever event loop runs after this one (the app's, or a test's)
        if outcome.code is None:
            outcome.finish(code, line)
            deadline.stop()
            app.exit(code)

    def loaded(_state) -> None:
        QTimer.singleShot(300, settled)  # let the window paint what it now shows

    def settled() -> None:
        if window.lm is None:
            done(EXIT_FAILED, "smoke test failed: the load finished without a model")
            return
        try:
            if screenshot is not None:
                _grab(window, screenshot)
        except OSError as exc:
            done(EXIT_FAILED, f"smoke test failed: {exc}")
            return
        done(0, ready_line(window.lm))

    window.show_error = lambda title, exc: done(EXIT_FAILED, f"smoke test failed: {title}: {exc}")
    job = window.start()
    job.succeeded.connect(loaded)
    job.failed.connect(lambda exc: done(EXIT_FAILED, f"smoke test failed: {exc}"))
    job.cancelled.connect(lambda: done(EXIT_FAILED, "smoke test failed: the load was cancelled"))
    deadline.timeout.connect(
        lambda: done(EXIT_TIMEOUT, f"smoke test failed: the model did not load within {timeout_s:g} s"))
    deadline.start(max(0, int(timeout_s * 1000)))
    app.exec()
    deadline.stop()
    code = EXIT_FAILED if outcome.code is None else outcome.code
    for line in outcome.lines or ["smoke test failed: the window closed before the model loaded"]:
        print(line, file=sys.stdout if code == 0 else sys.stderr, flush=True)
    return code
