"""Edit quality per method on the demo model's quality sets (or any edit file).

    OMP_NUM_THREADS=1 .venv/bin/python bench/quality.py [--split test|dev|demo|FILE]
        [--methods rome,memit,memit:batch,ft-l,ft-m,ice,grace:sequential] [--limit N]
        [--set method.KEY=VALUE ...] [--json OUT]

Every method runs with the preset a user gets by default (``--set`` overrides one value,
e.g. ``--set rome.kl_factor=0.1``, for tuning on ``dev``). ``METHOD:MODE`` picks the mode
(independent by default; ``memit:batch`` edits all facts in one batch; sequential runs
report teacher-forced figures after all edits); ``METHOD@VARIANT`` takes a named preset
variant (``ft-m@unconstrained``). Columns: teacher-forced reliability,
generality, locality; reliability on other-kind targets; generation exact-match
reliability and locality; fluency (n-gram entropy ×100) and PPL_r median; seconds per
edit. The sets are made by ``python -m core.demo_build.quality_sets``: tune on dev,
report on test.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _results import add_device_arg, record

DEFAULT_METHODS = "rome,memit,memit:batch,ft-l,ft-m,ice,grace:sequential"
COLUMNS = (("rel", "reliability"), ("gen", "generality"), ("loc", "locality"),
           ("rel other", "other:reliability"), ("gen EM rel", "generation.reliability"),
           ("gen EM loc", "generation.locality"), ("fluency", "fluency"), ("PPL_r med", "ppl_r_median"))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", default="test", help="test, dev, demo or a path to an edit file")
    parser.add_argument("--methods", default=DEFAULT_METHODS)
    parser.add_argument("--limit", type=int, help="first N requests only")
    parser.add_argument("--set", dest="assignments", action="append", default=[], metavar="METHOD.KEY=VALUE")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    add_device_arg(parser)
    return parser.parse_args(argv)


def split_file(split: str) -> Path:
    from core.util.paths import demo_model_dir

    named = {"test": "quality_test.jsonl", "dev": "quality_dev.jsonl", "demo": "demo_edits.jsonl"}
    return demo_model_dir() / named[split] if split in named else Path(split)


def read_split(path: Path, limit: int | None):
    """(facts, groups): groups name each fact's target kind and relation."""
    from core.facts.fact import fact_from_dict

    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = rows[:limit] if limit else rows
    facts = [fact_from_dict(row) for row in rows]
    groups = {f.id: tuple(g for g in (row.get("target_kind"), row.get("relation")) if g)
              for f, row in zip(facts, rows, strict=True)}
    return facts, groups


def overrides_for(method: str, assignments: list[str]) -> dict[str, str]:
    out = {}
    for item in assignments:
        name, _, rest = item.partition(".")
        key, _, value = rest.partition("=")
        if name == method:
            out[key] = value
    return out


def row(figures, label: str) -> list[str]:
    values = dict(figures.overall)
    values.update({f"{g}:{k}": v for g, d in figures.by_group.items() for k, v in d.items()})
    cells = [f"{label} ({figures.mode})"]
    cells += [f"{values[key]:.3f}" if key in values else "-" for _, key in COLUMNS]
    return [*cells, f"{figures.seconds_per_edit:.2f}"]


def main(argv: list[str] | None = None) -> None:
    from core.methods import preset_variant
    from core.model.loading import LoadOptions, load_model
    from core.util.paths import demo_model_dir
    from core.workflows.quality import measure_quality

    args = parse_args(argv)
    facts, groups = read_split(split_file(args.split), args.limit)
    lm = load_model(demo_model_dir(), LoadOptions(device=args.device))
    results, lines = [], []
    header = ["method", *(name for name, _ in COLUMNS), "s/edit"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for spec in args.methods.split(","):
        method, _, mode = spec.partition(":")
        method, _, variant = method.partition("@")
        figures = measure_quality(lm, facts, method, mode or "independent", groups,
                                  overrides=overrides_for(method, args.assignments),
                                  hparams=preset_variant(lm, method, variant or None))
        results.append({**figures.to_dict(), "spec": spec})
        lines.append("| " + " | ".join(row(figures, spec.partition(":")[0])) + " |")
        print(lines[-1], flush=True)
    print(f"\n{args.split}: {len(facts)} requests, teacher-forced unless marked EM\n" + "\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    record("quality", {"split": args.split, "requests": len(facts), "results": results},
           device=str(lm.info.device), args=vars(args))


if __name__ == "__main__":
    main()
