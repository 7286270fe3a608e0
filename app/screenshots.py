"""Save screenshots of the app's main states: ``python -m app.screenshots [FOLDER]``.

Runs offscreen on the demo model with throwaway settings and workspace (unless
FACTSMITH_DATA_DIR is set): imports the demo counterfactual set, previews and reviews
a few edits with ICE (fast on the CPU, no statistics to compute; ``--method rome`` for ROME), commits twice and
writes, to FOLDER (default: docs/):

- main-window.png: the demo model loaded, its queue imported
- queue.png: the fact queue after some reviews
- preview.png / preview-metrics.png: before/after generations with word diffs, the loss
  curve; the metrics table and chart with thresholds
- commit-dialog.png: approved runs with their metrics and warnings
- history.png: commits, details and the metrics across commits

``--real-window`` renders through a real X server instead: it starts itself under
``xvfb-run`` once per screen size (1920x1080 into FOLDER, 1366x768 into FOLDER/1366x768),
fills the screen with the window and grabs what the X server shows (needs ``xvfb-run``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SUBJECTS = ("capital of United Kingdom", "capital of Mayotte", "currency of")
SCREENS = (("1920x1080", ""), ("1366x768", "1366x768"))  # size, subfolder of FOLDER
_REAL = {"on": False}  # grabbing from the X server (set by --on-screen)


def _wait(app, predicate, timeout_s: float = 900.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not reach the expected state in time")
        app.processEvents()
        time.sleep(0.02)


def _idle(app, window) -> None:
    _wait(app, lambda: not window.lane.busy)
    for _ in range(5):
        app.processEvents()
        time.sleep(0.05)


def _save(widget, path: Path, shots: list[Path]) -> None:
    if _REAL["on"]:
        _screen_grab(widget).save(str(path))
    else:
        widget.grab().save(str(path))
    shots.append(path)


def _screen_grab(widget):
    """What the X server shows where the widget is (the real window, not a render of it)."""
    from PySide6.QtWidgets import QApplication

    widget.raise_()
    widget.activateWindow()
    for _ in range(10):
        QApplication.processEvents()
        time.sleep(0.05)
    top_left = widget.mapToGlobal(widget.rect().topLeft())
    return widget.screen().grabWindow(0, top_left.x(), top_left.y(), widget.width(), widget.height())


def _select(app, window, search: str) -> None:
    window.queue.search.setText(search)
    window.queue.select_row(0)
    app.processEvents()


def _preview(app, window, search: str, method: str, decision: str, note: str = "") -> None:
    _select(app, window, search)
    window.method_panel.method.setCurrentText(method)
    window.preview_selected()
    _idle(app, window)
    if window.preview_panel.run is None:
        raise RuntimeError(f"the preview of {search!r} failed: {getattr(window, 'last_error', None)}")
    window.review_bar.note.setText(note)
    window.review_bar.decide(decision)


def _commit(app, window, message: str, folder: Path | None, shots: list[Path]) -> None:
    dialog = window.open_commit_dialog()
    dialog.message.setText(message)
    app.processEvents()
    if folder is not None:
        _save(dialog, folder / "commit-dialog.png", shots)
    dialog.accept()
    _idle(app, window)


def _open(app, window) -> None:
    if _REAL["on"]:
        window.setGeometry(window.screen().availableGeometry())  # no window manager under Xvfb to maximise
    else:
        window.resize(1440, 900)
    window.show()
    window.start()
    _idle(app, window)
    if window.lm is None:
        raise RuntimeError("the demo model did not load")


def _queue_states(app, window, method: str, folder: Path, shots: list[Path]) -> None:
    from core import demo_edits_file

    window.import_facts(demo_edits_file())
    _idle(app, window)
    window.queue.select_row(0)
    _save(window, folder / "main-window.png", shots)
    _preview(app, window, SUBJECTS[1], method, "approve")
    _commit(app, window, "Mayotte's capital is Valletta", None, shots)
    _select(app, window, "Armenia's capital")
    window.review_bar.note.setText("source is outdated")
    window.review_bar.decide("reject")
    window.preview_panel.free_prompts.setPlainText("London is the capital of\nThe capital of France is")
    _preview(app, window, SUBJECTS[0], method, "approve")
    window.queue.search.setText("capital")
    _save(window.queue, folder / "queue.png", shots)


def capture(folder: Path, method: str = "ice") -> list[Path]:
    if not _REAL["on"]:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("FACTSMITH_DATA_DIR", tempfile.mkdtemp(prefix="factsmith-shots-"))
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from app.settings import use_settings_folder

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("FactsmithScreenshots")
    use_settings_folder(Path(os.environ["FACTSMITH_DATA_DIR"]) / "settings")
    folder.mkdir(parents=True, exist_ok=True)
    shots: list[Path] = []
    window = MainWindow()
    _open(app, window)
    _queue_states(app, window, method, folder, shots)
    window.queue.search.setText("")
    _select(app, window, SUBJECTS[0])
    window.tabs.setCurrentIndex(0)
    window.preview_panel.tabs.setCurrentIndex(0)
    _save(window, folder / "preview.png", shots)
    window.preview_panel.tabs.setCurrentIndex(1)
    _save(window, folder / "preview-metrics.png", shots)
    _commit(app, window, "United Kingdom's capital is Bangui", folder, shots)
    window.tabs.setCurrentWidget(window.history)
    window.history.select([window.ws.head().id])
    app.processEvents()
    _save(window, folder / "history.png", shots)
    window.close()
    return shots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.screenshots", description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default="docs", help="where to write the PNGs (default: docs)")
    parser.add_argument("--method", default="ice", help="editing method for the previews (default: ice)")
    parser.add_argument("--real-window", action="store_true",
                        help="grab the real window from Xvfb at 1920x1080 (FOLDER) and 1366x768 (FOLDER/1366x768)")
    parser.add_argument("--on-screen", action="store_true", help=argparse.SUPPRESS)  # one size, inside Xvfb
    args = parser.parse_args(argv)
    if args.real_window:
        return real_window_shots(Path(args.folder), args.method)
    _REAL["on"] = args.on_screen
    for path in capture(Path(args.folder), args.method):
        print(path)
    return 0


def real_window_shots(folder: Path, method: str) -> int:
    """This script once per screen size, each in its own Xvfb, grabbing from the X server."""
    if not shutil.which("xvfb-run"):
        print("--real-window needs xvfb-run (Debian/Ubuntu: apt-get install xvfb)", file=sys.stderr)
        return 2
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")}
    for size, sub in SCREENS:
        command = ["xvfb-run", "-a", "-s", f"-screen 0 {size}x24", sys.executable, "-m", "app.screenshots",
                   str(folder / sub if sub else folder), "--method", method, "--on-screen"]
        code = subprocess.run(command, env=env).returncode
        if code:
            print(f"screenshots at {size} failed (exit {code})", file=sys.stderr)
            return code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
