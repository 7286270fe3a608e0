"""The ``factsmith`` entry point: the desktop app by default, core's CLI for subcommands."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# Options of ``factsmith gui`` that may also come first (``factsmith --smoke-test``, the bundle's start).
GUI_OPTIONS = ("--model", "--workspace", "--smoke-test", "--screenshot", "--timeout")


def gui_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="factsmith gui")
    parser.add_argument("--model", help="model folder to open instead of the demo model")
    parser.add_argument("--workspace", help="workspace file to use with it (default: the model's own)")
    parser.add_argument("--smoke-test", action="store_true",
                        help="open the window, load the model, print 'ready: MODEL on DEVICE' and exit "
                             "(non-zero with the reason if it fails)")
    parser.add_argument("--screenshot", type=Path, metavar="PNG",
                        help="with --smoke-test: save a grab of the real window to PNG")
    parser.add_argument("--timeout", type=float, default=300.0, metavar="S",
                        help="with --smoke-test: fail when the model has not loaded after S seconds (default 300)")
    return parser


def is_gui_command(argv: list[str]) -> bool:
    return not argv or argv[0] == "gui" or argv[0].split("=")[0] in GUI_OPTIONS


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not is_gui_command(argv):
        from core import cli_main

        return cli_main(argv)
    gui_args = argv[1:] if argv and argv[0] == "gui" else argv
    misplaced = misplaced_command(gui_args)
    if misplaced:
        print(misplaced, file=sys.stderr)
        return 2
    args = gui_parser().parse_args(gui_args)
    if args.screenshot and not args.smoke_test:
        print("factsmith gui: --screenshot needs --smoke-test", file=sys.stderr)
        return 2
    return run_gui(args.model, args.workspace, smoke_test=args.smoke_test, screenshot=args.screenshot,
                   timeout_s=args.timeout)


def misplaced_command(argv: list[str]) -> str:
    """Trial 45: ``factsmith --workspace W workspace check`` read as the app's options, and said
    "factsmith gui: unrecognized arguments". A command after a leading option says where it goes."""
    _, rest = gui_parser().parse_known_args(argv)
    if not rest:
        return ""
    from core import cli_command_names

    if rest[0] not in cli_command_names():
        return ""
    if argv[len(argv) - len(rest):] != rest:  # the command is not all that follows the options: no guess
        return ""
    options = argv[: len(argv) - len(rest)]
    return f"factsmith: options go after the command: factsmith {' '.join(rest)} {' '.join(options)}".rstrip()


def run_gui(model: str | None = None, workspace: str | None = None, *, smoke_test: bool = False,
            screenshot: Path | None = None, timeout_s: float = 300.0) -> int:
    from app.platform_check import check_display

    problem = check_display(os.environ)
    if problem:
        print(problem, file=sys.stderr)
        return 3
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Factsmith")
    app.setOrganizationName("Factsmith")
    settings_follow_config_dir(os.environ)
    window = MainWindow(model, workspace)
    show_on_screen(window)
    if smoke_test:
        from app.smoke import run_smoke_test

        code = run_smoke_test(app, window, timeout_s, screenshot)
        window.close()
        return code
    window.start()
    return app.exec()


def settings_follow_config_dir(environ) -> Path | None:
    """With FACTSMITH_CONFIG_DIR set (a second install, a trial, a portable copy), the window's
    settings live there too, beside the author key, not in the user's shared settings."""
    from app.settings import use_settings_folder
    from core import CONFIG_ENV

    override = environ.get(CONFIG_ENV)
    if not override:
        return None
    folder = Path(override) / "settings"
    use_settings_folder(folder)
    return folder


def show_on_screen(window) -> None:
    """Show the window, fitted to the screen when its size (default or remembered) is larger:
    a 1440x900 first start on a 1366x768 screen otherwise hides the review bar and status bar."""
    screen = window.screen()
    available = screen.availableGeometry() if screen is not None else None
    if available is None or (window.width() <= available.width() and window.height() <= available.height()):
        window.show()
        return
    window.setGeometry(available)  # where no window manager maximises (Xvfb)
    window.showMaximized()  # with one, the frame fits too


if __name__ == "__main__":
    raise SystemExit(main())
