"""The app's log file: warnings, library chatter and the tracebacks of errors the window
already reported go to ``factsmith.log`` in the user's data folder, not the terminal.

``start_logging`` routes Python logging and ``warnings`` (FutureWarnings included) there;
``quiet_transformers`` (run by the lane's warm-up, which imports transformers off the GUI
thread) adds transformers' own logger and turns off the "Loading weights" progress bars.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from core import data_dir

LOG_NAME = "factsmith.log"
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_path() -> Path:
    return data_dir() / "logs" / LOG_NAME


class _AppLogHandler(logging.FileHandler):
    """Marks the handler this module installed, so a second call replaces it."""


def start_logging(level: int = logging.INFO) -> Path:
    """Send logging and warnings to the log file (again after the data folder changed)."""
    path = log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _AppLogHandler)]:
        root.removeHandler(handler)
        handler.close()
    handler = _AppLogHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(_FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
    # read when the libraries are imported: set before anything imports them
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    return path


def quiet_transformers() -> None:
    """transformers: its messages into our log, no progress bars (imports transformers)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_default_handler()
    hf_logging.enable_propagation()
    hf_logging.disable_progress_bar()
