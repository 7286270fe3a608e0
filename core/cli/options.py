"""Options shared by subcommands that load a model."""

from __future__ import annotations

import argparse
import logging

from core.model.loading import DTYPES, LoadedModel, LoadOptions, load_model
from core.util.paths import demo_model_dir
from core.util.progress import Progress

log = logging.getLogger("factsmith")


def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="Hugging Face model folder (default: the bundled demo model)")
    parser.add_argument("--device", default="auto", help="auto (CUDA, else MPS, else CPU), cpu, cuda, cuda:N, mps")
    parser.add_argument("--dtype", default="auto", choices=DTYPES)
    parser.add_argument("--device-map-auto", action="store_true", help="spread a large model over devices")
    parser.add_argument("--allow-pickle", action="store_true", help="allow .bin/.pt checkpoints (weights_only)")
    parser.add_argument("--ignore-memory-check", action="store_true", help="load even if it may not fit")


def live_progress(prefix: str = "", every_s: float = 1.0) -> Progress:
    """A Progress shown on stderr even without --verbose (through the "factsmith.progress"
    logger, its own handler), at most once per ``every_s``: for long steps such as
    statistics, whose messages carry tokens, rate and time left."""
    import sys
    import time

    shown = logging.getLogger("factsmith.progress")
    if not shown.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        shown.addHandler(handler)
        shown.setLevel(logging.INFO)
        shown.propagate = False
    last = [0.0]

    def report(event) -> None:
        now = time.monotonic()
        if event.message and (now - last[0] >= every_s or (event.fraction or 0.0) >= 1.0):
            last[0] = now
            shown.info("%s%s", prefix, event.message)

    return Progress(report)


def _log_progress(event) -> None:
    if event.message:
        log.info("%s", event.message)


def load_from_args(args: argparse.Namespace) -> LoadedModel:
    options = LoadOptions(
        device=args.device,
        dtype=args.dtype,
        device_map_auto=args.device_map_auto,
        allow_pickle=args.allow_pickle,
        ignore_memory_check=args.ignore_memory_check,
    )
    return load_model(args.model or demo_model_dir(), options, Progress(_log_progress))
