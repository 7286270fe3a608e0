"""The lane's first job: the heavy imports (torch, transformers, the editing methods), off the
GUI thread, so the window shows at once and the first load finds them done.

An import holds the GIL, so two things inside these would still stall the window for
0.1–0.5 s at a time: the dynamic loader reading libtorch (done first here through ctypes,
which lets go of the GIL), and full garbage collections over the million objects the imports
create (paused while importing; what was imported is then frozen, out of every later scan).
"""

from __future__ import annotations

import ctypes
import gc
import importlib
import importlib.util
import logging
import sys
from pathlib import Path

from core import Progress, get_method, method_names

log = logging.getLogger(__name__)

# What every model load imports (torch._dynamo, sympy, scipy and accelerate come with them).
LOAD_MODULES = ("torch", "transformers", "transformers.modeling_utils", "transformers.generation.utils",
                "transformers.masking_utils", "transformers.activations", "transformers.modeling_layers",
                "transformers.integrations.accelerate", "safetensors.torch")
NATIVE_TORCH = ("libtorch_cpu.so", "libtorch_cpu.dylib")


def warm_up(progress: Progress) -> int:
    """Import what loads and edits need; returns the number of torch threads (all cores but one)."""
    from app.jobs import leave_a_core_for_the_gui
    from app.logfile import quiet_transformers

    if "torch" not in sys.modules:
        progress.report(0, None, "loading torch and transformers")
        _import_without_stalls()
    quiet_transformers()
    for name in method_names():
        get_method(name)  # a method's module, imported the first time one is chosen
    return leave_a_core_for_the_gui()


def _import_without_stalls() -> None:
    collecting = gc.isenabled()
    gc.disable()
    try:
        _preload_native_torch()
        for name in LOAD_MODULES:
            try:
                importlib.import_module(name)
            except ImportError as exc:  # another transformers version: the load imports what it needs
                log.info("not imported ahead: %s (%s)", name, exc)
    finally:
        gc.freeze()  # modules live for good: never scan them again
        if collecting:
            gc.enable()


def _preload_native_torch() -> None:
    """dlopen torch's largest library without the GIL (ctypes releases it; an import does not).
    Best effort: torch's own import loads whatever this did not."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return
    lib = Path(next(iter(spec.submodule_search_locations))) / "lib"
    for name in NATIVE_TORCH:
        if (lib / name).is_file():
            try:
                ctypes.CDLL(str(lib / name))
            except OSError as exc:
                log.info("torch's %s not preloaded: %s", name, exc)
