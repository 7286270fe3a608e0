"""The bundle's program (PyInstaller entry): the same ``factsmith`` entry point as the venv's."""

import multiprocessing

from app.launcher import main

if __name__ == "__main__":
    multiprocessing.freeze_support()
    raise SystemExit(main())
