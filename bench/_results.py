"""One JSON per bench run under ``bench/results/``, so later runs compare against earlier ones.

    from _results import record, device_arg
    record("edit_latency", figures, device=device, threads=..., args=vars(args))

Each file (``<bench>-<UTC time>-<commit>.json``) holds the machine (CPU model, cores,
torch threads, load average), the commit (and whether the tree had changes), the date,
the device the figures were measured on, the peak GPU memory when that was CUDA, the
arguments and the figures.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def add_device_arg(parser) -> None:
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default auto)")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _commit() -> dict:
    root = Path(__file__).resolve().parent.parent
    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
        return out.stdout.strip()
    return {"commit": git("rev-parse", "HEAD"), "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def peak_gpu_mib(device: str) -> float | None:
    """Peak CUDA memory allocated by this process (MiB) when ``device`` is CUDA, else None."""
    if not str(device).startswith("cuda"):
        return None
    import torch

    return torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None


def machine() -> dict:
    import torch

    return {"cpu": _cpu_model(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "load_average": list(os.getloadavg()),
            "platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def record(bench: str, figures, device: str, args: dict | None = None, folder: Path | None = None) -> Path:
    """Write this run's JSON and return its path (the bench's table stays on stdout)."""
    now = _dt.datetime.now(_dt.UTC)
    commit = _commit()
    entry = {"bench": bench, "date": now.isoformat(timespec="seconds"), **commit, "machine": machine(),
             "device": str(device), "peak_gpu_mib": peak_gpu_mib(str(device)),
             "args": {k: v for k, v in (args or {}).items() if k != "child"}, "figures": figures}
    folder = folder or Path(os.environ.get("FACTSMITH_BENCH_RESULTS", RESULTS))
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{bench}-{now.strftime('%Y%m%dT%H%M%SZ')}-{commit['commit'][:8] or 'nogit'}"
    text = json.dumps(entry, indent=1, default=str) + "\n"
    for n in range(1, 100):  # two runs ending in the same second each keep their file
        path = folder / (f"{stem}.json" if n == 1 else f"{stem}-{n}.json")
        try:
            with path.open("x", encoding="utf-8") as out:
                out.write(text)
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"{folder / stem}.json and 98 more: clear out {folder}")
