"""The ``factsmith`` entry point: the desktop app by default, core's CLI for subcommands."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] != "gui":
        from core import cli_main

        return cli_main(argv)
    parser = argparse.ArgumentParser(prog="factsmith gui")
    parser.add_argument("--model", help="model folder to open instead of the demo model")
    parser.add_argument("--workspace", help="workspace file to use with it (default: the model's own)")
    args = parser.parse_args(argv[1:])
    return run_gui(args.model, args.workspace)


def run_gui(model: str | None = None, workspace: str | None = None) -> int:
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Factsmith")
    app.setOrganizationName("Factsmith")
    window = MainWindow(model, workspace)
    window.show()
    window.start()
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main())
