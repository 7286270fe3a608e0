"""Seconds per edit and peak memory for each method, on the demo model and a random 124M GPT-2.

    .venv/bin/python bench/edit_latency.py [--edits 5] [--methods rome,ft-l,ft-m,memit,memit batch,ice,grace]
                                           [--models demo,gpt2-124m] [--stats-tokens N]

Each (model, method) runs in its own subprocess so peak memory (max RSS, or CUDA peak on a
GPU) belongs to that method alone. Timings are the median over --edits single-fact edits
of the demo set; "memit batch" is one MEMIT delta for all --edits facts at once (seconds
per fact). First, per model, it times the covariance statistics ROME and MEMIT need, in a
fresh cache that the edit subprocesses then share, so edits never include them. The
budget is each preset's own unless --stats-tokens sets another (the table says which).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _models import random_gpt2_124m  # noqa: E402
from _results import add_device_arg, record  # noqa: E402

_DEVICE = ["auto"]  # --device, passed to the subprocesses


def _memory_mib(field: str) -> float:
    """This process's resident memory now (VmRSS) or at its peak (VmHWM), from /proc.

    Not ru_maxrss: Linux keeps it across fork and exec, so every subprocess would report
    the parent's peak (the parent builds the 124M model)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    import resource  # no /proc (macOS): the peak, which is what this process reached

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _hparams(lm, method_name: str, stats_tokens: int):
    """The method's preset for this model, with the bench's statistics budget if set."""
    import dataclasses

    from core.methods import get_method

    hp = get_method(method_name).preset(lm)
    if stats_tokens > 0 and any(f.name == "stats_tokens" for f in dataclasses.fields(hp)):
        hp = dataclasses.replace(hp, stats_tokens=stats_tokens)
    return hp


def _load(model_dir: str):
    from core.model.loading import LoadOptions, load_model

    return load_model(model_dir, LoadOptions(device=os.environ.get("FACTSMITH_BENCH_DEVICE", "auto")))


def measure(model_dir: str, method_name: str, edits: int, stats_tokens: int) -> dict:
    """Runs inside the subprocess: load, edit `edits` facts, report timings."""
    import torch

    from core.facts.io import read_facts
    from core.methods import get_method
    from core.util.paths import demo_edits_file

    lm = _load(model_dir)
    baseline = _memory_mib("VmRSS")
    batch = method_name.endswith(" batch")
    method = get_method(method_name.removesuffix(" batch"))
    hparams = _hparams(lm, method.name, stats_tokens)
    facts = read_facts(demo_edits_file())[:edits]
    method.compute(lm, facts[:1], hparams, None)  # warm-up: first-call allocations, reading the cached covariance
    seconds = []
    for group in ([facts] if batch else [[f] for f in facts]):
        started = time.perf_counter()
        method.compute(lm, group, hparams, None)
        seconds.append((time.perf_counter() - started) / len(group))
    on_cuda = str(lm.info.device).startswith("cuda")
    peak = torch.cuda.max_memory_allocated() / 2**20 if on_cuda else _memory_mib("VmHWM")
    return {"median_s": statistics.median(seconds), "min_s": min(seconds), "peak_mib": peak,
            "model_mib": baseline, "params": lm.info.parameters, "device": lm.info.device}


def measure_stats(model_dir: str, method_name: str, stats_tokens: int) -> dict:
    """Seconds to compute the covariance the method needs (the parent gives a cold cache)."""
    from core.methods.memit import resolve_layers
    from core.methods.rome import resolve_layer
    from core.methods.stats import StatsSource, layer_covariances

    lm = _load(model_dir)
    hp = _hparams(lm, method_name, stats_tokens)
    layers = resolve_layers(lm, hp) if method_name == "memit" else (resolve_layer(lm, hp),)
    started = time.perf_counter()
    layer_covariances(lm, layers, StatsSource(hp.stats_source, hp.stats_seed), hp.stats_tokens)
    return {"stats_s": time.perf_counter() - started, "tokens": hp.stats_tokens, "layers": list(layers),
            "device": str(lm.info.device)}


def _child(args: list[str], cache: str) -> dict:
    env = {**os.environ, "FACTSMITH_CACHE_DIR": cache, "FACTSMITH_BENCH_DEVICE": _DEVICE[0]}
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True,
                         cwd=ROOT, env=env)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--edits", type=int, default=5)
    parser.add_argument("--methods", default="rome,ft-l,ft-m,memit,memit batch,ice,grace")
    parser.add_argument("--models", default="demo,gpt2-124m")
    parser.add_argument("--stats-tokens", type=int, default=0,
                        help="covariance budget for ROME and MEMIT (0: each preset's own)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    add_device_arg(parser)
    args = parser.parse_args()
    _DEVICE[0] = args.device
    if args.child:
        kind, model_dir, number, stats_tokens = args.child
        result = (measure_stats(model_dir, number, int(stats_tokens)) if kind == "stats"
                  else measure(model_dir, kind, int(number), int(stats_tokens)))
        print(json.dumps(result))
        return
    rows = run_all(args)
    print_table(rows)
    devices = sorted({r.get("device", "?") for _, _, r in rows if "error" not in r})
    record("edit_latency", [{"model": name, "method": method, **r} for name, method, r in rows],
           device=",".join(devices) or args.device, args=vars(args))


def run_all(args: argparse.Namespace) -> list[tuple[str, str, dict]]:
    """Statistics first (cold cache), then each method on the warm cache, per model."""
    from core.util.paths import demo_model_dir

    methods, budget = args.methods.split(","), str(args.stats_tokens)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        models = {"demo": str(demo_model_dir())}
        if "gpt2-124m" in args.models:
            models["gpt2-124m"] = str(random_gpt2_124m(Path(tmp) / "gpt2-124m"))
        for name in args.models.split(","):
            cache = tempfile.mkdtemp(prefix="cache-", dir=tmp)
            for method in ("rome", "memit"):
                if any(m.split()[0] == method for m in methods):
                    rows.append((name, f"{method} stats", _child(["stats", models[name], method, budget], cache)))
            for method in methods:
                rows.append((name, method, _child([method, models[name], str(args.edits), budget], cache)))
    return rows


def print_table(rows: list[tuple[str, str, dict]]) -> None:
    print(f"{'model':<10} {'method':<12} {'s/edit (median)':>16} {'peak MiB':>9} {'model MiB':>9}  note")
    for name, method, r in rows:
        if "error" in r:
            print(f"{name:<10} {method:<12} {'-':>16} {'-':>9} {'-':>9}  {r['error']}")
        elif "stats_s" in r:
            print(f"{name:<10} {method:<12} {r['stats_s']:>16.2f} {'':>9} {'':>9}  {r['tokens']} tokens, "
                  f"layers {r['layers']}")
        else:
            print(f"{name:<10} {method:<12} {r['median_s']:>16.3f} {r['peak_mib']:>9.0f} {r['model_mib']:>9.0f}"
                  f"  {r['device']}, {r['params'] / 1e6:.0f}M params")


if __name__ == "__main__":
    main()
