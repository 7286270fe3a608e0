"""Continual (lifelong) editing: many sequential edits per method on the demo model.

    .venv/bin/python bench/continual.py [--edits 500] [--every 50] [--methods rome,ft-l,ft-m,memit,ice,grace]
                                        [--device auto] [--out bench/continual.png] [--json FILE]
    .venv/bin/python bench/continual.py --merge A.json B.json ... [--out chart.png]

For each method the demo model is loaded fresh, a pre-edit locality reference is
captured, and --edits counterfactual requests are edited one after another, each
computed on the model as the earlier edits left it (``apply_delta``; all reverted,
bit for bit, at the end). After every --every edits (and after the last):

- newest: reliability of the edit just made (teacher-forced token accuracy);
- retention: mean reliability of all earlier edits, re-measured now (teacher-forced);
- locality: agreement with the pre-edit model's argmax tokens over the locality prompts
  of every fact edited so far (teacher-forced);
- fluency: n-gram entropy (×100) of the greedy text from the prompts of a fixed sample
  of --fluency-facts requests (the fluency protocol; row 0 is the unedited model).

Requests come from ``core.demo_build.lifelong`` (drawn from the demo model's facts.jsonl,
disjoint from the demo and dev sets, locality prompts only from facts nobody edits), so
a locality failure always means an edit leaked. Prints a markdown table per checkpoint
and saves a chart (one panel per metric, a line per method) with pyqtgraph, offscreen.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.edit.deltas import apply_delta, revert_delta
from core.facts.fact import Fact, fact_from_dict
from core.methods import get_method, method_names
from core.metrics.evaluation import capture_reference, evaluate
from core.model.loading import LoadOptions, load_model
from core.util.paths import demo_model_dir

ROOT = Path(__file__).resolve().parent.parent
METRICS = (("newest", "newest edit's reliability"), ("retention", "retention of earlier edits"),
           ("locality", "locality"), ("fluency", "fluency (n-gram entropy ×100)"))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=500)
    parser.add_argument("--every", type=int, default=50, help="measure after every this many edits")
    parser.add_argument("--methods", default=",".join(method_names()))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--fluency-facts", type=int, default=20, help="size of the fixed fluency sample")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "continual.png", help="PNG chart")
    parser.add_argument("--json", type=Path, help="also write every checkpoint and timing here")
    parser.add_argument("--merge", type=Path, nargs="+", metavar="JSON",
                        help="run nothing: one table and chart from earlier runs' --json files (say, one "
                             "method per process, run side by side)")
    args = parser.parse_args()
    if args.edits < 1 or args.every < 1:
        parser.error("--edits and --every must be at least 1")
    return args


def requests(n: int, seed: int) -> list[Fact]:
    """``n`` lifelong requests, keeping the demo and dev (tuning) sets unseen."""
    from core.demo_build.lifelong import lifelong_requests, read_knowledge

    folder = demo_model_dir()
    reserved = [json.loads(line) for name in ("demo_edits.jsonl", "dev_edits.jsonl")
                for line in (folder / name).read_text(encoding="utf-8").splitlines() if line.strip()]
    made = lifelong_requests(read_knowledge(folder / "facts.jsonl"), n, seed, reserved=reserved)
    return [fact_from_dict(r) for r in made]


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def measure(lm, edited: list[Fact], reference, fluency_facts: list[Fact]) -> dict:
    """The checkpoint's metrics with ``edited`` (oldest first) in place."""
    started, row = time.perf_counter(), {"edits": len(edited)}
    if edited:
        report = evaluate(lm, edited, reference=reference, protocols=("teacher_forced",))
        reliability = [m.teacher_forced.reliability for m in report.facts]
        row.update(newest=reliability[-1], retention=_mean(reliability[:-1]),
                   locality=report.summary().get("locality"))
    if fluency_facts:
        texts = evaluate(lm, fluency_facts, reference=reference, protocols=("fluency",))
        row["fluency"] = _mean([m.fluency.fluency for m in texts.facts])
    row["eval_s"] = time.perf_counter() - started
    return row


def run_method(name: str, facts: list[Fact], fluency_facts: list[Fact], every: int, device: str,
               result: dict) -> None:
    """Fills ``result`` as it goes, so a failure part-way keeps the checkpoints so far."""
    from core.model.fingerprint import state_fingerprint

    started = time.perf_counter()
    lm = load_model(demo_model_dir(), LoadOptions(device=device))
    method = get_method(name)
    hparams = method.preset(lm)
    before = state_fingerprint(lm.model)
    reference = capture_reference(lm, facts)
    result.update(device=lm.info.device, setup_s=time.perf_counter() - started, rows=[], edit_s=[])
    result["rows"].append(measure(lm, [], reference, fluency_facts))
    receipts = []
    try:
        for k, fact in enumerate(facts, 1):
            began = time.perf_counter()
            delta = method.compute(lm, [fact], hparams, None)
            receipts.append(apply_delta(lm.model, delta))
            result["edit_s"].append(time.perf_counter() - began)
            if k % every == 0 or k == len(facts):
                row = measure(lm, facts[:k], reference, fluency_facts)
                window = result["edit_s"][-(k - result["rows"][-1]["edits"]):]
                row["s_per_edit"] = sum(window) / len(window)
                result["rows"].append(row)
                print(f"{name}: {k}/{len(facts)} edits, {_cells(row)}", file=sys.stderr, flush=True)
    finally:
        for receipt in reversed(receipts):
            revert_delta(lm.model, receipt)
        result["restored"] = state_fingerprint(lm.model) == before
        del lm, receipts
        gc.collect()
        _free_cuda()
    result["total_s"] = time.perf_counter() - started


def _free_cuda() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _fmt(value, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def _cells(row: dict) -> str:
    return ", ".join(f"{key} {_fmt(row.get(key), '.2f' if key == 'fluency' else '.3f')}" for key, _ in METRICS)


def print_table(results: dict[str, dict]) -> None:
    print("| method | edits | newest reliability | retention | locality | fluency | s/edit | eval s |")
    print("|--------|------:|-------------------:|----------:|---------:|--------:|-------:|-------:|")
    for name, result in results.items():
        for row in result.get("rows", []):
            print(f"| {name} | {row['edits']} | {_fmt(row.get('newest'))} | {_fmt(row.get('retention'))} "
                  f"| {_fmt(row.get('locality'))} | {_fmt(row.get('fluency'), '.2f')} "
                  f"| {_fmt(row.get('s_per_edit'), '.3f')} | {_fmt(row.get('eval_s'), '.1f')} |")
    print()
    for name, result in results.items():
        edit_s = result.get("edit_s", [])
        note = f"error: {result['error']}" if "error" in result else ""
        print(f"- {name}: {len(edit_s)} edits on {result.get('device', '?')}, "
              f"{sum(edit_s):.1f} s editing, {result.get('total_s', 0.0):.1f} s in all; "
              f"restored exactly: {result.get('restored', '?')}" + (f"; {note}" if note else ""))


def save_chart(results: dict[str, dict], out: Path) -> None:
    """One panel per metric, a line per method, x = edits so far (pyqtgraph, offscreen)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import pyqtgraph as pg
    import pyqtgraph.exporters  # registers pg.exporters
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    pg.setConfigOptions(antialias=True, background="w", foreground="k")
    window = pg.GraphicsLayoutWidget()
    window.resize(1400, 900)
    window.show()  # lays the panels out over the whole size (offscreen: nothing appears)
    last = max((r["edits"] for result in results.values() for r in result.get("rows", [])), default=1)
    colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
    named: dict[str, object] = {}  # one legend for all panels, below them
    for i, (key, title) in enumerate(METRICS):
        plot = window.addPlot(row=i // 2, col=i % 2, title=title)
        plot.setLabel("bottom", "edits so far")
        plot.showGrid(x=True, y=True, alpha=0.15)
        plot.setXRange(0, max(last, 1), padding=0.02)
        if key != "fluency":
            plot.setYRange(-0.03, 1.05, padding=0)  # a 0 reads as 0, not as the axis
        for j, (name, result) in enumerate(results.items()):
            points = [(r["edits"], r[key]) for r in result.get("rows", []) if r.get(key) is not None]
            if points:
                color = colors[j % len(colors)]
                curve = plot.plot([x for x, _ in points], [y for _, y in points], pen=pg.mkPen(color, width=2),
                                  symbol="o", symbolSize=6, symbolBrush=color, symbolPen=None)
                named.setdefault(name, curve)
    legend = pg.LegendItem(colCount=max(len(named), 1))
    for name, curve in named.items():
        legend.addItem(curve, name)
    window.addItem(legend, row=2, col=0, colspan=2)
    window.ci.layout.setRowStretchFactor(2, 0)
    app.processEvents()
    exporter = pg.exporters.ImageExporter(window.scene())
    exporter.parameters()["width"] = 1400
    out.parent.mkdir(parents=True, exist_ok=True)
    exporter.export(str(out))
    window.close()


def merged(files: list[Path]) -> dict[str, dict]:
    """The results of several --json files, in order; a method in two files is an error."""
    results: dict[str, dict] = {}
    for path in files:
        try:
            runs = json.loads(path.read_text(encoding="utf-8"))["results"]
        except (OSError, ValueError, KeyError) as exc:
            raise SystemExit(f"{path}: not a continual.py --json file ({exc})") from None
        for name, result in runs.items():
            if name in results:
                raise SystemExit(f"{path}: method {name!r} is already in an earlier file")
            results[name] = result
    return results


def main() -> None:
    args = parse_args()
    if args.merge:
        results = merged(args.merge)
        print_table(results)
        save_chart(results, args.out)
        print(f"\nchart: {args.out}")
        return
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for name in methods:
        get_method(name)  # unknown names fail before any work
    facts = requests(args.edits, args.seed)
    fluency_facts = random.Random(args.seed).sample(facts, min(args.fluency_facts, len(facts)))
    results: dict[str, dict] = {}
    for name in methods:
        results[name] = {}
        try:
            run_method(name, facts, fluency_facts, args.every, args.device, results[name])
        except Exception as exc:  # keep the other methods' results
            results[name]["error"] = f"{type(exc).__name__}: {exc}"
            print(f"{name} failed: {results[name]['error']}", file=sys.stderr, flush=True)
    print(f"{args.edits} sequential edits per method on the demo model; teacher-forced reliability, retention "
          f"and locality; fluency on {len(fluency_facts)} fixed prompts; every {args.every} edits\n")
    print_table(results)
    save_chart(results, args.out)
    print(f"\nchart: {args.out}")
    if args.json:
        args.json.write_text(json.dumps({"edits": args.edits, "every": args.every, "seed": args.seed,
                                         "fluency_facts": [f.id for f in fluency_facts],
                                         "results": results}, indent=2))
        print(f"json: {args.json}")


if __name__ == "__main__":
    main()
