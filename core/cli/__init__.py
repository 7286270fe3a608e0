"""The headless command line: ``factsmith SUBCOMMAND ...`` (the GUI launcher delegates here)."""

from core.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
