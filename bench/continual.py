"""Continual (lifelong) editing: many sequential edits per method on the demo model.

    .venv/bin/python bench/continual.py [--edits 500] [--every 50] [--methods rome,ft-l,ft-m,memit,ice,grace]
                                        [--batch-size N] [--device auto] [--out bench/continual.png] [--json FILE]
                                        [--subjects test|dev|all] [--set METHOD.KEY=VALUE ...]
    .venv/bin/python bench/continual.py --merge A.json B.json ... [--out chart.png]

For each method the demo model is loaded fresh, a pre-edit locality reference is
captured, and --edits counterfactual requests are edited one after another, each
computed on the model as the earlier edits left it (``apply_delta``; all reverted,
bit for bit, at the end); with --batch-size N, N requests per step in one delta
(consecutive batches; a method name ``NAME:N`` sets its own batch size, so
``--methods memit,memit:10`` compares both schedules in one run). After every --every
edits (and after the last):

- newest: reliability of the edit just made (teacher-forced token accuracy; with
  batches, the mean over the newest batch);
- retention: mean reliability of all earlier edits (earlier batches), re-measured now
  (teacher-forced);
- generality: mean accuracy on the paraphrases of every edit so far (teacher-forced);
- locality: agreement with the pre-edit model's argmax tokens over the locality prompts
  of every fact edited so far (teacher-forced);
- fluency: n-gram entropy (×100) of the greedy text from the prompts of a fixed sample
  of --fluency-facts requests (the fluency protocol; row 0 is the unedited model).

Requests come from ``core.demo_build.lifelong`` (drawn from the demo model's facts.jsonl,
only about evaluation subjects, those whose SHA-256 starts with c-f as in the test
quality set, never the subjects presets are tuned on; disjoint from the demo, dev and
quality sets; all five relations round-robin; locality prompts only from facts nobody
edits), so a locality failure always means an edit leaked. ``--subjects dev`` draws them
from the tuning subjects (0-b) instead, for tuning a lifelong preset with ``--set`` (as
``bench/quality.py``'s) without touching the subjects it is reported on. ``--subjects all``
takes every free evaluation fact and the rest from tuning subjects, shuffled together (still
never the demo, dev and quality sets): the only way to 1,000 distinct edits on the demo
model, whose evaluation subjects hold 564 free facts; use it only for methods that are not
trained (a trained editor's or RECIPE's data are 0-b subjects). Prints a markdown table per
checkpoint and saves a chart (one panel per metric, a line per method) with pyqtgraph, offscreen.
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
from core.methods import get_method, method_names, resolve_hparams
from core.metrics.evaluation import capture_reference, evaluate
from core.model.loading import LoadOptions, load_model
from core.util.paths import demo_model_dir
from core.workflows.train import is_trainable

ROOT = Path(__file__).resolve().parent.parent
METRICS = (("newest", "newest edit's reliability"), ("retention", "retention of earlier edits"),
           ("generality", "generality"), ("locality", "locality"), ("fluency", "fluency (n-gram entropy ×100)"))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=500)
    parser.add_argument("--every", type=int, default=50, help="measure after every this many edits")
    parser.add_argument("--methods", default=",".join(method_names()),
                        help="comma-separated; NAME:N edits N requests per step (overrides --batch-size)")
    parser.add_argument("--batch-size", type=int, default=1, help="requests per step (consecutive batches)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--fluency-facts", type=int, default=20, help="size of the fixed fluency sample")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "continual.png", help="PNG chart")
    parser.add_argument("--json", type=Path, help="also write every checkpoint and timing here")
    parser.add_argument("--subjects", choices=("test", "dev", "all"), default="test",
                        help="evaluation subjects (SHA-256 c-f, the default), tuning subjects (0-b), or all "
                             "(the demo model has 564 evaluation facts free: 1,000 edits need both; only for "
                             "methods that are not trained, whose training data is 0-b)")
    parser.add_argument("--set", dest="assignments", action="append", default=[], metavar="METHOD.KEY=VALUE",
                        help="override one preset value of one method (tune with --subjects dev)")
    parser.add_argument("--merge", type=Path, nargs="+", metavar="JSON",
                        help="run nothing: one table and chart from earlier runs' --json files (say, one "
                             "method per process, run side by side)")
    args = parser.parse_args()
    if args.edits < 1 or args.every < 1 or args.batch_size < 1:
        parser.error("--edits, --every and --batch-size must be at least 1")
    return args


def requests(n: int, seed: int, subjects: str = "test") -> list[Fact]:
    """``n`` lifelong requests about evaluation subjects (or, ``subjects="dev"``, tuning
    subjects; ``"all"``, both), keeping the demo, dev and quality sets unseen."""
    from core.demo_build.lifelong import (
        RESERVED_SETS,
        all_subject_requests,
        evaluation_requests,
        lifelong_requests,
        read_knowledge,
    )
    from core.demo_build.quality_sets import is_test_subject

    folder = demo_model_dir()
    if subjects == "test":
        return [fact_from_dict(r) for r in evaluation_requests(folder, n, seed)]
    if subjects == "all":
        return [fact_from_dict(r) for r in all_subject_requests(folder, n, seed)]
    reserved = [json.loads(line) for name in RESERVED_SETS if (folder / name).is_file()
                for line in (folder / name).read_text(encoding="utf-8").splitlines() if line.strip()]
    knowledge = read_knowledge(folder / "facts.jsonl")
    tuning = [f for f in knowledge if not is_test_subject(f.subject)]
    return [fact_from_dict(r) for r in lifelong_requests(tuning, n, seed, reserved=reserved, locality_pool=knowledge)]


def overrides_for(method: str, assignments: list[str]) -> dict[str, str]:
    """{KEY: VALUE} of the ``METHOD.KEY=VALUE`` assignments naming ``method``."""
    out = {}
    for item in assignments:
        name, _, rest = item.partition(".")
        key, _, value = rest.partition("=")
        if name == method:
            out[key] = value
    return out


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def measure(lm, edited: list[Fact], newest: int, reference, fluency_facts: list[Fact]) -> dict:
    """The checkpoint's metrics with ``edited`` (oldest first; the last ``newest`` are the newest step) in place."""
    started, row = time.perf_counter(), {"edits": len(edited)}
    if edited:
        report = evaluate(lm, edited, reference=reference, protocols=("teacher_forced",))
        reliability = [m.teacher_forced.reliability for m in report.facts]
        summary = report.summary()
        row.update(newest=_mean(reliability[-newest:]), retention=_mean(reliability[:-newest]),
                   generality=summary.get("generality"), locality=summary.get("locality"))
    if fluency_facts:
        texts = evaluate(lm, fluency_facts, reference=reference, protocols=("fluency",))
        row["fluency"] = _mean([m.fluency.fluency for m in texts.facts])
    row["eval_s"] = time.perf_counter() - started
    return row


def method_and_batch(spec: str, default: int) -> tuple[str, int]:
    """``NAME`` or ``NAME:N`` (N requests per step)."""
    name, _, size = spec.partition(":")
    return name, int(size) if size else default


def run_method(spec: str, facts: list[Fact], fluency_facts: list[Fact], every: int, device: str,
               result: dict, batch_size: int = 1, overrides: dict | None = None) -> None:
    """Fills ``result`` as it goes, so a failure part-way keeps the checkpoints so far."""
    from core.model.fingerprint import state_fingerprint

    name, batch_size = method_and_batch(spec, batch_size)
    started = time.perf_counter()
    lm = load_model(demo_model_dir(), LoadOptions(device=device))
    method = get_method(name)
    hparams = resolve_hparams(lm, name, overrides)
    before = state_fingerprint(lm.model)
    reference = capture_reference(lm, facts)
    result.update(device=lm.info.device, batch_size=batch_size, setup_s=time.perf_counter() - started, rows=[],
                  edit_s=[])
    result["rows"].append(measure(lm, [], 1, reference, fluency_facts))
    receipts = []
    try:
        for start in range(0, len(facts), batch_size):
            step = facts[start:start + batch_size]
            began = time.perf_counter()
            receipts.append(apply_delta(lm.model, method.compute(lm, step, hparams, None)))
            result["edit_s"] += [(time.perf_counter() - began) / len(step)] * len(step)
            k = start + len(step)
            if k // every > start // every or k == len(facts):
                row = measure(lm, facts[:k], len(step), reference, fluency_facts)
                window = result["edit_s"][-(k - result["rows"][-1]["edits"]):]
                row["s_per_edit"] = sum(window) / len(window)
                result["rows"].append(row)
                print(f"{spec}: {k}/{len(facts)} edits, {_cells(row)}", file=sys.stderr, flush=True)
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
    print("| method | batch | edits | newest reliability | retention | generality | locality | fluency | s/edit "
          "| eval s |")
    print("|--------|------:|------:|-------------------:|----------:|-----------:|---------:|--------:|-------:"
          "|-------:|")
    for name, result in results.items():
        for row in result.get("rows", []):
            print(f"| {name.partition(':')[0]} | {result.get('batch_size', 1)} | {row['edits']} "
                  f"| {_fmt(row.get('newest'))} | {_fmt(row.get('retention'))} | {_fmt(row.get('generality'))} "
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
    window.resize(1400, 1200)
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
    legend_row = (len(METRICS) + 1) // 2  # below the panels, two to a row
    window.addItem(legend, row=legend_row, col=0, colspan=2)
    window.ci.layout.setRowStretchFactor(legend_row, 0)
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
    for spec in methods:
        name = method_and_batch(spec, args.batch_size)[0]
        get_method(name)  # unknown names fail before any work
        if args.subjects == "all" and is_trainable(name):  # its training data are those 0-b subjects
            raise SystemExit(f"--subjects all edits the subjects {name} was trained on: use --subjects test")
    facts = requests(args.edits, args.seed, args.subjects)
    fluency_facts = random.Random(args.seed).sample(facts, min(args.fluency_facts, len(facts)))
    results: dict[str, dict] = {}
    for name in methods:
        results[name] = {}
        try:
            run_method(name, facts, fluency_facts, args.every, args.device, results[name], args.batch_size,
                       overrides_for(method_and_batch(name, 1)[0], args.assignments))
        except Exception as exc:  # keep the other methods' results
            results[name]["error"] = f"{type(exc).__name__}: {exc}"
            print(f"{name} failed: {results[name]['error']}", file=sys.stderr, flush=True)
    subjects = {"test": "evaluation", "dev": "tuning", "all": "evaluation and tuning"}[args.subjects]
    print(f"{args.edits} sequential edits per method on the demo model ({subjects} subjects); teacher-forced "
          f"reliability, retention, generality and locality; fluency on {len(fluency_facts)} fixed prompts; "
          f"every {args.every} edits\n")
    print_table(results)
    save_chart(results, args.out)
    print(f"\nchart: {args.out}")
    if args.json:
        args.json.write_text(json.dumps({"edits": args.edits, "every": args.every, "seed": args.seed,
                                         "batch_size": args.batch_size, "subjects": args.subjects,
                                         "set": args.assignments,
                                         "fluency_facts": [f.id for f in fluency_facts],
                                         "results": results}, indent=2))
        print(f"json: {args.json}")


if __name__ == "__main__":
    main()
