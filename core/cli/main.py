"""Argument parsing and dispatch for the ``factsmith`` subcommands."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable

from core.cli import (
    commands_edit,
    commands_keys,
    commands_ledger,
    commands_ledger_models,
    commands_model,
    commands_trace,
    commands_train,
    commands_tune,
)
from core.cli.errors import CommandError
from core.methods.base import EditError

log = logging.getLogger("factsmith")

# Each module adds its subparsers; every handler takes args and returns a JSON-able result.
COMMAND_MODULES = (commands_model, commands_edit, commands_ledger, commands_ledger_models, commands_keys,
                   commands_trace, commands_tune, commands_train)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("factsmith")
    except PackageNotFoundError:
        return "0+unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="factsmith",
        description="Correct what a local language model knows. With no subcommand, opens the desktop app.",
    )
    parser.add_argument("--version", action="version", version=f"factsmith {_version()}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("gui", help="open the desktop app (the default)").add_argument(
        "--model", help="model folder to open instead of the demo model"
    )
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def command_names() -> list[str]:
    """The subcommands (``factsmith COMMAND``), for the launcher's "options go after the command"."""
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return list(sub.choices)


def _emit(result, as_json: bool, render: Callable | None) -> None:
    if as_json:
        json.dump(result, sys.stdout, indent=2, ensure_ascii=False, default=str)
        sys.stdout.write("\n")
    elif render is not None:
        sys.stdout.write(render(result))
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    _quiet_libraries(args.verbose)
    if args.command in (None, "gui"):
        parser.error("the desktop app is started by the `factsmith` launcher, not core.cli")
    try:
        result = args.handler(args)
    except BrokenPipeError:
        return _reader_gone()
    # EditError: an edit that could not be computed, e.g. no trained editor (trial 45: a traceback)
    except (CommandError, EditError, ValueError, OSError, KeyError, MemoryError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"factsmith {args.command}: error: {message}", file=sys.stderr)
        _more_rows(exc)
        return 2
    try:
        _emit(result, getattr(args, "json", False), getattr(args, "render", None))
        sys.stdout.flush()
    except BrokenPipeError:
        return _reader_gone()
    return 0


def _more_rows(exc: BaseException) -> None:
    """A facts file's other bad rows (FactsFileError.more), each on its own line: all of them
    fixed in one go, not one per try."""
    more = getattr(exc, "more", ())
    for row in more:
        print(f"  also {row}", file=sys.stderr)
    if getattr(exc, "more_count", 0) > len(more):
        print(f"  … and {exc.more_count - len(more)} more bad rows", file=sys.stderr)


def _quiet_libraries(verbose: bool) -> None:
    """No download-style progress bars or library chatter on every load unless -v; read by
    transformers and huggingface_hub when imported, which no command has done yet."""
    if not verbose:
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _reader_gone() -> int:
    """stdout's reader closed the pipe (``factsmith queue | head``): stop quietly, as other tools do."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # the interpreter's last flush at exit must not fail again
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
