"""CI's script and the installer bundle: tests first, then the smoke test; the bundle's desktop files."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STUB = """#!/bin/sh
echo "$(basename "$0") $*" >> "$STUB_LOG"
if [ "$(basename "$0")" = xvfb-run ]; then shift 3; exec "$@"; fi
case "$*" in
  *"bootstrap.py test"*) exit "${STUB_TESTS_EXIT:-0}" ;;
  *"bootstrap.py app"*) exit "${STUB_APP_EXIT:-0}" ;;
esac
"""


def _run_ci(tmp_path, tests_exit=0, app_exit=0):
    """.ci/run with python3, xvfb-run and dpkg-query stubbed: what it ran, in order, and its exit code."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name in ("python3", "xvfb-run"):
        (bin_dir / name).write_text(STUB)
        (bin_dir / name).chmod(0o755)
    (bin_dir / "dpkg-query").write_text("#!/bin/sh\necho 'install ok installed'\n")
    (bin_dir / "dpkg-query").chmod(0o755)
    log = tmp_path / "calls.log"
    log.unlink(missing_ok=True)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "STUB_LOG": str(log), "STUB_TESTS_EXIT": str(tests_exit),
           "STUB_APP_EXIT": str(app_exit), "CI_ARTIFACTS": str(tmp_path / "artifacts"), "HOME": str(tmp_path)}
    result = subprocess.run(["bash", str(ROOT / ".ci" / "run")], env=env, capture_output=True, text=True, timeout=60)
    return log.read_text().splitlines(), result


def test_ci_runs_the_tests_then_the_smoke_test_under_xvfb(tmp_path):
    calls, result = _run_ci(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert calls[0] == "python3 packaging/bootstrap.py test --durations=30"  # the README's command
    artifacts = tmp_path / "artifacts"
    assert calls[1].startswith("xvfb-run -a -s -screen 0 1920x1080x24 python3 packaging/bootstrap.py app")
    assert calls[1].endswith(f"--smoke-test --screenshot {artifacts}/smoke-window.png")
    assert calls[2] == f"python3 packaging/bootstrap.py app --smoke-test --screenshot {artifacts}/smoke-window.png"


@pytest.mark.parametrize(("tests_exit", "app_exit"), [(1, 0), (0, 3), (1, 3)])
def test_ci_fails_when_the_tests_or_the_smoke_test_fail(tmp_path, tests_exit, app_exit):
    calls, result = _run_ci(tmp_path, tests_exit, app_exit)
    assert result.returncode != 0
    assert any("bootstrap.py app" in c for c in calls), "the smoke test runs even after failing tests"
    assert f"tests exit {tests_exit}, smoke test exit {app_exit}" in result.stdout


def test_bundle_desktop_entry_and_its_install_script(tmp_path):
    sys.path.insert(0, str(ROOT / "packaging"))
    try:
        from build_bundle import add_desktop_files
    finally:
        sys.path.remove(str(ROOT / "packaging"))
    bundle = tmp_path / "Factsmith folder"
    bundle.mkdir()
    add_desktop_files(bundle)
    entry = (bundle / "factsmith.desktop").read_text()
    assert f'Exec="{bundle}/Factsmith" %F' in entry and f"Icon={bundle}/factsmith.png" in entry
    assert "Terminal=false" in entry and (bundle / "factsmith.png").stat().st_size > 1000
    data = tmp_path / "data"
    subprocess.run([str(bundle / "install-desktop-entry.sh")],
                   env={"XDG_DATA_HOME": str(data), "PATH": "/usr/bin:/bin"},
                   check=True, capture_output=True)
    installed = (data / "applications" / "factsmith.desktop").read_text()
    assert f'Exec="{bundle}/Factsmith" %F' in installed and "@" not in installed


@pytest.mark.slow
@pytest.mark.installer
def test_bundle_builds_and_its_smoke_test_passes(tmp_path):
    """About 8 minutes on 2 cores: PyInstaller's one-folder bundle, then ``Factsmith --smoke-test``."""
    pytest.importorskip("PyInstaller", reason="needs the bundle extra: pip install -e '.[bundle]'")
    if not os.environ.get("DISPLAY") and not shutil.which("xvfb-run"):
        pytest.skip("needs a display or xvfb-run")
    env = {**os.environ, "FACTSMITH_DATA_DIR": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    command = [sys.executable, str(ROOT / "packaging" / "build_bundle.py"), "--smoke-test",
               "--dist", str(tmp_path / "dist"), "--work", str(tmp_path / "work")]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=2400)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "ready: demo-model on cpu\n" in result.stdout
    assert (tmp_path / "dist" / "Factsmith" / "factsmith.desktop").is_file()


def test_the_app_command_installs_no_dev_tools_and_the_test_command_adds_them():
    """A new user who only opens the app gets Factsmith's dependencies, not pytest, ruff or
    PyInstaller; the test command installs those on top (trial 3)."""
    bootstrap = _bootstrap()
    now = bootstrap.install_fingerprint()
    assert bootstrap.installed_enough(f"{now} app", with_dev=False)
    assert not bootstrap.installed_enough(f"{now} app", with_dev=True)
    assert bootstrap.installed_enough(f"{now} dev", with_dev=True)
    assert bootstrap.installed_enough(now, with_dev=True), "an older stamp meant the dev install"
    assert not bootstrap.installed_enough(f"{'0' * 64} dev", with_dev=False), "pyproject changed"


def _bootstrap():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bootstrap_under_test", ROOT / "packaging" / "bootstrap.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_test_command_runs_a_worker_per_core_unless_told_otherwise(monkeypatch):
    """CI's 2 cores run two workers (the suite took 53 minutes in one process); a developer's
    own ``-n``, single tests or a 1-core machine keep one process."""
    bootstrap = _bootstrap()
    monkeypatch.setenv("OMP_NUM_THREADS", "unset below; restored after the test")
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert bootstrap.parallel_options(["--durations=30"], cpus=2) == ["-n", "2", "--dist", "loadfile"]
    assert os.environ["OMP_NUM_THREADS"] == "1", "one torch thread per worker"
    assert bootstrap.parallel_options([], cpus=64)[1] == str(bootstrap.MAX_WORKERS)
    for args in (["-n", "0"], ["-n0"], ["--numprocesses=3"], ["-p", "no:xdist"],
                 ["tests/test_packaging.py::test_bundle_desktop_entry_and_its_install_script"]):
        assert bootstrap.parallel_options(args, cpus=8) == [], args
    assert bootstrap.parallel_options(["-k", "rome"], cpus=1) == []
