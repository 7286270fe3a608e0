"""``factsmith gui --smoke-test``: one ready line and exit 0, or the reason and a non-zero exit."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.gui

ROOT = Path(__file__).resolve().parents[2]


def _smoke(qapp, capsys, timeout_s=120.0, screenshot=None, **window_args):
    from app.main_window import MainWindow
    from app.smoke import run_smoke_test

    window = MainWindow(**window_args)
    window.show()
    code = run_smoke_test(qapp, window, timeout_s, screenshot)
    window.close()
    return code, capsys.readouterr()


def test_smoke_test_prints_one_ready_line_and_saves_the_window(qapp, capsys, tmp_path):
    from PySide6.QtGui import QImage

    code, out = _smoke(qapp, capsys, screenshot=tmp_path / "shots" / "window.png")
    assert code == 0
    assert out.out == "ready: demo-model on cpu\n"
    image = QImage(str(tmp_path / "shots" / "window.png"))
    assert image.width() >= 800 and image.height() >= 500


def test_smoke_test_fails_with_the_reason_when_the_model_cannot_load(qapp, capsys, tmp_path):
    code, out = _smoke(qapp, capsys, model_path=tmp_path)
    assert code == 1 and out.out == ""
    assert out.err.startswith("smoke test failed: ") and "config.json" in out.err


def test_smoke_test_times_out_non_zero(qapp, capsys):
    code, out = _smoke(qapp, capsys, timeout_s=0.001)
    assert code == 2 and out.out == ""
    assert "did not load within 0.001 s" in out.err


def test_a_late_outcome_does_not_stop_the_event_loops_that_follow(qapp, capsys):
    """After a timeout the load still ends (or is cancelled at close): that late outcome must
    not call exit on whatever event loop runs next (it stopped every later test's waits)."""
    import time

    from PySide6.QtCore import QEventLoop, QTimer

    assert _smoke(qapp, capsys, timeout_s=0.001)[0] == 2
    loop, started = QEventLoop(), time.monotonic()
    QTimer.singleShot(5000, loop.quit)
    loop.exec()
    assert time.monotonic() - started > 4.5


def test_screenshot_needs_smoke_test(capsys):
    from app.launcher import main

    assert main(["gui", "--screenshot", "x.png"]) == 2
    assert "--screenshot needs --smoke-test" in capsys.readouterr().err


@pytest.mark.skipif(not shutil.which("xvfb-run"), reason="needs xvfb-run (CI installs it)")
def test_real_window_under_xvfb(tmp_path):
    """The README's app command path: a real X server, the platform check, the real window."""
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")}
    env["FACTSMITH_DATA_DIR"] = str(tmp_path / "data")
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")  # the window saves its geometry there
    shot = tmp_path / "real.png"
    result = subprocess.run(
        ["xvfb-run", "-a", "-s", "-screen 0 1366x768x24", sys.executable, "-m", "app.launcher",
         "--smoke-test", "--screenshot", str(shot), "--timeout", "120"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout == "ready: demo-model on cpu\n"
    assert shot.stat().st_size > 10_000


def test_a_window_larger_than_the_screen_is_fitted_to_it(qtbot):
    from PySide6.QtWidgets import QMainWindow

    from app.launcher import show_on_screen

    window = QMainWindow()
    qtbot.addWidget(window)
    available = window.screen().availableGeometry()
    window.resize(available.width() + 300, available.height() + 200)
    show_on_screen(window)
    assert window.width() <= available.width() and window.height() <= available.height()
    small = QMainWindow()
    qtbot.addWidget(small)
    small.resize(400, 300)
    show_on_screen(small)
    assert (small.width(), small.height()) == (400, 300) and not small.isMaximized()


def test_a_late_signal_of_the_cancelled_load_quits_no_later_event_loop(qapp, capsys, qtbot):
    from PySide6.QtCore import QTimer

    code, _ = _smoke(qapp, capsys, timeout_s=0.001)  # closed with the load still queued: it is cancelled
    assert code == 2
    timer = QTimer(singleShot=True)
    with qtbot.waitSignal(timer.timeout, timeout=10_000):  # the cancellation arrives in this loop
        timer.start(500)


def test_the_readme_gui_command_with_smoke_test_prints_ready(tmp_path):
    """`factsmith gui --smoke-test`, the subcommand word included, in a process of its own."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "FACTSMITH_DATA_DIR": str(tmp_path / "data"),
           "XDG_CONFIG_HOME": str(tmp_path / "config")}
    result = subprocess.run([sys.executable, "-m", "app.launcher", "gui", "--smoke-test", "--timeout", "120"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout == "ready: demo-model on cpu\n"
    # the offscreen plugin's own "does not support propagateSizeHints()" is all it may say
    assert "Traceback" not in result.stderr and "Warning" not in result.stderr


def test_an_option_before_the_command_says_where_it_goes(capsys):
    """Trial 45: `factsmith --workspace W workspace check` said "factsmith gui: error:
    unrecognized arguments: workspace check"."""
    from app.launcher import main as launcher_main

    assert launcher_main(["--workspace", "w.db", "workspace", "check"]) == 2
    assert capsys.readouterr().err.strip() == ("factsmith: options go after the command: factsmith workspace check "
                                               "--workspace w.db")
