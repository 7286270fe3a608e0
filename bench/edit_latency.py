"""Seconds per edit and peak memory for each method, on the demo model and a random 124M GPT-2.

    .venv/bin/python bench/edit_latency.py [--edits 5] [--methods rome,ft-l,ft-m,memit,ice]
                                           [--models demo,gpt2-124m]

Each (model, method) runs in its own subprocess so peak memory (max RSS, or CUDA peak on a
GPU) belongs to that method alone. Timings are the median over --edits single-fact edits
of the demo set; "memit batch" is one MEMIT delta for all --edits facts at once (seconds
per fact). Also times the covariance statistics ROME and MEMIT need at their presets'
budgets (cached afterwards, so edits do not include them).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _random_gpt2_124m(folder: Path) -> Path:
    """GPT-2 small's shape (124M parameters) with random weights and the demo tokenizer."""
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    from core.paths import demo_model_dir

    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config()).save_pretrained(folder, safe_serialization=True)
    AutoTokenizer.from_pretrained(demo_model_dir()).save_pretrained(folder)
    return folder


def _rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(model_dir: str, method_name: str, edits: int) -> dict:
    """Runs inside the subprocess: load, edit `edits` facts, report timings."""
    import torch

    from core.facts_io import read_facts
    from core.loading import load_model
    from core.methods import get_method
    from core.paths import demo_edits_file

    lm = load_model(model_dir)
    baseline = _rss_mib()
    batch = method_name.endswith(" batch")
    method = get_method(method_name.removesuffix(" batch"))
    hparams = method.preset(lm)
    facts = read_facts(demo_edits_file())[:edits]
    method.compute(lm, facts[:1], hparams, None)  # warm-up: first-call allocations, covariance
    seconds = []
    for group in ([facts] if batch else [[f] for f in facts]):
        started = time.perf_counter()
        method.compute(lm, group, hparams, None)
        seconds.append((time.perf_counter() - started) / len(group))
    peak = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else _rss_mib()
    return {"median_s": statistics.median(seconds), "min_s": min(seconds), "peak_mib": peak,
            "model_mib": baseline, "params": lm.info.parameters, "device": lm.info.device}


def measure_stats(model_dir: str, method_name: str) -> dict:
    """Seconds to compute (uncached) the covariance the method's preset needs."""
    import os

    from core.loading import load_model
    from core.methods import get_method
    from core.methods.covariance import layer_covariances
    from core.methods.memit import resolve_layers
    from core.methods.rome import resolve_layer
    from core.stats import StatsSource

    with tempfile.TemporaryDirectory() as cache:
        os.environ["FACTSMITH_CACHE_DIR"] = cache  # a cold cache: time the computation itself
        lm = load_model(model_dir)
        hp = get_method(method_name).preset(lm)
        layers = resolve_layers(lm, hp) if method_name == "memit" else (resolve_layer(lm, hp),)
        started = time.perf_counter()
        layer_covariances(lm, layers, StatsSource(hp.stats_source, hp.stats_seed), hp.stats_tokens)
        return {"stats_s": time.perf_counter() - started, "tokens": hp.stats_tokens, "layers": list(layers)}


def _child(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--edits", type=int, default=5)
    parser.add_argument("--methods", default="rome,ft-l,ft-m,memit,memit batch,ice")
    parser.add_argument("--models", default="demo,gpt2-124m")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, model_dir, *rest = args.child
        result = measure_stats(model_dir, rest[0]) if kind == "stats" else measure(model_dir, kind, int(rest[0]))
        print(json.dumps(result))
        return
    from core.paths import demo_model_dir

    with tempfile.TemporaryDirectory() as tmp:
        models = {"demo": str(demo_model_dir())}
        if "gpt2-124m" in args.models:
            models["gpt2-124m"] = str(_random_gpt2_124m(Path(tmp) / "gpt2-124m"))
        rows = []
        for name in args.models.split(","):
            for method in args.methods.split(","):
                rows.append((name, method, _child([method, models[name], str(args.edits)])))
            for method in ("rome", "memit"):
                if method in args.methods.split(","):
                    rows.append((name, f"{method} stats", _child(["stats", models[name], method])))
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
