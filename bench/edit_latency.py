"""Seconds per edit and peak memory for each method, on the demo model and a random 124M GPT-2.

    .venv/bin/python bench/edit_latency.py [--edits 5] [--methods rome,ft-l,ft-m] [--models demo,gpt2-124m]

Each (model, method) runs in its own subprocess so peak memory (max RSS, or CUDA peak on a
GPU) belongs to that method alone. Also times ROME's covariance statistics at the default
budget. Prints a table; timings are the median over --edits edits of the demo set.
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
    method = get_method(method_name)
    hparams = method.preset(lm)
    facts = read_facts(demo_edits_file())[:edits]
    method.compute(lm, facts[:1], hparams, None)  # warm-up: first-call allocations
    seconds = []
    for fact in facts:
        started = time.perf_counter()
        method.compute(lm, [fact], hparams, None)
        seconds.append(time.perf_counter() - started)
    peak = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else _rss_mib()
    return {"median_s": statistics.median(seconds), "min_s": min(seconds), "peak_mib": peak,
            "model_mib": baseline, "params": lm.info.parameters, "device": lm.info.device}


def measure_stats(model_dir: str) -> dict:
    from core.loading import load_model
    from core.methods import get_method
    from core.stats import default_stats_request, layer_covariance

    lm = load_model(model_dir)
    hparams = get_method("rome").preset(lm)
    request = default_stats_request(lm, hparams)
    started = time.perf_counter()
    layer_covariance(lm, request)
    return {"stats_s": time.perf_counter() - started, "tokens": request.budget_tokens}


def _child(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--edits", type=int, default=5)
    parser.add_argument("--methods", default="rome,ft-l,ft-m")
    parser.add_argument("--models", default="demo,gpt2-124m")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, model_dir, *rest = args.child
        result = measure_stats(model_dir) if kind == "stats" else measure(model_dir, kind, int(rest[0]))
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
            rows.append((name, "rome stats", _child(["stats", models[name]])))
    print(f"{'model':<10} {'method':<11} {'s/edit (median)':>16} {'peak MiB':>9} {'model MiB':>9}  note")
    for name, method, r in rows:
        if "error" in r:
            print(f"{name:<10} {method:<11} {'-':>16} {'-':>9} {'-':>9}  {r['error']}")
        elif "stats_s" in r:
            print(f"{name:<10} {method:<11} {r['stats_s']:>16.2f} {'':>9} {'':>9}  {r['tokens']} tokens")
        else:
            print(f"{name:<10} {method:<11} {r['median_s']:>16.3f} {r['peak_mib']:>9.0f} {r['model_mib']:>9.0f}"
                  f"  {r['device']}, {r['params'] / 1e6:.0f}M params")


if __name__ == "__main__":
    main()
