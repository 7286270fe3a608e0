"""The terminal stays quiet: library warnings, progress bars and the tracebacks of errors the
window reported go to the log file in the user's data folder (Help → Open log)."""

import pytest

from app.logfile import log_path
from core.util.paths import data_dir, demo_edits_file
from tests.app.helpers import click_preview, click_row, fast_rome, open_window, wait_job

pytestmark = pytest.mark.gui


def test_load_preview_and_a_reported_error_print_nothing_to_the_terminal(qtbot, capfd, tmp_path):
    capfd.readouterr()
    window = open_window(qtbot)
    wait_job(qtbot, window.import_facts(demo_edits_file()), 60_000)
    fast_rome(window)
    click_row(qtbot, window, 0)
    click_preview(qtbot, window)
    failed = wait_job(qtbot, window.import_facts(tmp_path / "missing.jsonl"), 60_000)
    assert failed.state.value == "failed" and window.last_error.isVisible()
    out, err = capfd.readouterr()
    assert out == "" and err == "", "nothing on the terminal"
    assert window.log_file == log_path() and window.log_file.is_relative_to(data_dir())
    log = window.log_file.read_text()
    # bad input (trial 42): a line in the log, no traceback, and no pointer to one
    assert "missing.jsonl" in log and "Traceback" not in log
    assert "Open log" not in window.message.text() and "missing.jsonl" in window.message.text()
    assert "\n" not in window.message.text()

    def fault(*args, **kwargs):
        raise RuntimeError("a fault in the importer")

    window.session.import_file = lambda *a, **k: window.lane.submit("Importing", fault)
    failed = wait_job(qtbot, window.import_facts(tmp_path / "any.jsonl"), 60_000)
    assert failed.state.value == "failed"
    assert capfd.readouterr() == ("", ""), "nothing on the terminal"
    assert "Traceback" in window.log_file.read_text(), "a fault's details are in the log"
    assert "details: Help → Open log" in window.message.text(), "a concise line in the status bar"
    assert window.open_log_action.text() == "Open log"
    window.close()


def test_library_warnings_go_to_the_log_not_the_terminal(qtbot, capfd):
    """Issue 14, item 14: transformers' FutureWarnings and its logger's warnings (the
    attention-mask one) reach the log file; the terminal shows neither."""
    import logging
    import warnings

    # pytest resets warnings.showwarning around each test, and captureWarnings(True) only
    # takes it over once per process: start from not captured, as the app does
    logging.captureWarnings(False)
    capfd.readouterr()
    window = open_window(qtbot)
    warnings.warn_explicit("`past_key_values` as a tuple is deprecated (probe)", FutureWarning,
                           "transformers/generation/utils.py", 1, module="transformers.generation.utils")
    logging.getLogger("transformers.generation.utils").warning("The attention mask is not set (probe)")
    out, err = capfd.readouterr()
    assert out == "" and err == "", "nothing on the terminal"
    log = window.log_file.read_text()
    assert "past_key_values` as a tuple is deprecated (probe)" in log
    assert "The attention mask is not set (probe)" in log
    window.close()
