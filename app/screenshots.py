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
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

SUBJECTS = ("capital of United Kingdom", "capital of Mayotte", "currency of")


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
    widget.grab().save(str(path))
    shots.append(path)


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
    args = parser.parse_args(argv)
    for path in capture(Path(args.folder), args.method):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
