"""Set up Factsmith from a fresh clone and run it: ``python3 packaging/bootstrap.py app|test``.

Creates the virtual environment ``.venv`` if it is missing, installs the project into it
(again only when pyproject.toml changed), then opens the app or runs the test suite.
Needs only Python 3.11+ with venv and pip. Extra arguments go to the app or to pytest.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("FACTSMITH_VENV", ROOT / ".venv"))
STAMP = VENV / ".factsmith-install"
MAX_WORKERS = 4  # each worker loads its own models; more buys little on the suite's length


def venv_bin(name: str) -> Path:
    folder = VENV / ("Scripts" if os.name == "nt" else "bin")
    return folder / (f"{name}.exe" if os.name == "nt" else name)


def install_fingerprint() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def installed_enough(stamp: str, with_dev: bool) -> bool:
    """The stamp is "FINGERPRINT" (an older install, with the dev tools) or "FINGERPRINT app|dev"."""
    fingerprint, _, kind = stamp.strip().partition(" ")
    return fingerprint == install_fingerprint() and (not with_dev or kind in ("", "dev"))


def ensure_environment(with_dev: bool = True) -> None:
    """The app needs Factsmith alone; the tests also need the dev tools (pytest, ruff, PyInstaller…)."""
    if sys.version_info < (3, 11):
        sys.exit(f"Factsmith needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not venv_bin("python").exists():
        print(f"creating virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    if STAMP.exists() and installed_enough(STAMP.read_text(), with_dev):
        return
    pip = [str(venv_bin("python")), "-m", "pip", "install", "--disable-pip-version-check"]
    what = "its dependencies and the test tools" if with_dev else "its dependencies"
    print(f"installing Factsmith and {what} (first run only)", flush=True)
    subprocess.run([*pip, "-e", f"{ROOT}[dev]" if with_dev else str(ROOT)], check=True, cwd=ROOT)
    STAMP.write_text(f"{install_fingerprint()} {'dev' if with_dev else 'app'}")


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("app", "test"):
        print(__doc__)
        return 2
    ensure_environment(with_dev=argv[0] == "test")
    if argv[0] == "app":
        command = [str(venv_bin("factsmith")), *argv[1:]]
    else:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        command = [str(venv_bin("python")), "-m", "pytest", *parallel_options(argv[1:]), *argv[1:]]
    return run(command)


def usable_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):  # the cores this process may use (containers, taskset)
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def parallel_options(pytest_args: list[str], cpus: int | None = None) -> list[str]:
    """One pytest-xdist worker per core (at most 4) unless the caller chose ``-n`` or named
    single tests; each worker gets one torch thread, so the workers do not fight for cores,
    and whole test files, so a file's tests meet its session fixtures in the written order."""
    cpus = cpus if cpus is not None else usable_cpus()
    chosen = any(a.startswith(("-n", "--numprocesses", "--dist")) or a == "no:xdist" for a in pytest_args)
    single_tests = any("::" in a for a in pytest_args)
    workers = min(cpus, MAX_WORKERS)
    if chosen or single_tests or workers < 2:
        return []
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    return ["-n", str(workers), "--dist", "loadfile"]  # a file's tests run in order, on one worker


def run(command: list[str]) -> int:
    """Become the command where the system allows (POSIX exec): no child is left running when
    this launcher is killed, as the launcher *is* the app. Elsewhere, wait for it as a child."""
    if os.name == "posix":
        os.chdir(ROOT)
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(command[0], command)  # does not return
    return subprocess.run(command, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
