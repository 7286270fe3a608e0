"""Engine subcommands: eval (metrics of a model as it is) and edit (compute and measure edits)."""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

from core.cli.commands_tune import add_preset_option, preset_base
from core.cli.options import add_model_options, load_from_args
from core.workflows.runs import MODES


def register(sub) -> None:
    ev = sub.add_parser("eval", help="metrics of the model as it is, on a facts file")
    add_model_options(ev)
    _add_facts_options(ev)
    ev.add_argument("--json", action="store_true", help="machine-readable output")
    ev.set_defaults(handler=evaluate_command, render=_render_eval)

    ed = sub.add_parser("edit", help="compute edits and report pre/post metrics (see docs/edit-report.md)")
    add_model_options(ed)
    _add_facts_options(ed)
    ed.add_argument("--method", required=True, help="editing method (rome, ft-l, ft-m, ...)")
    add_preset_option(ed)
    ed.add_argument("--hparams", type=Path, help="JSON file of hyperparameters over the preset")
    ed.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE",
                    help="override one hyperparameter (repeatable)")
    ed.add_argument("--mode", choices=MODES, default="independent",
                    help="independent: each fact from the base model; sequential: edits pile up; "
                         "batch: one delta for all facts at once (MEMIT)")
    ed.add_argument("--batch-size", type=int, default=1, metavar="N",
                    help="sequential mode: N facts per step, one delta each, steps accumulate "
                         "(consecutive batches; default 1)")
    ed.add_argument("--layer", choices=("auto",),
                    help="auto: edit at the layer the causal trace of each fact picks (`factsmith trace`; "
                         "ROME, MEMIT, AlphaEdit, GRACE, FT-L, FT-M; also --set layer=auto / layers=auto). Independent "
                         "mode traces each fact; sequential and batch share the facts' most common layer")
    ed.add_argument("--out", type=Path, help="save the edited model as a Hugging Face folder")
    ed.add_argument("--json", action="store_true", help="machine-readable output")
    ed.set_defaults(handler=edit_command, render=_render_edit)


def _add_facts_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--facts", type=Path, help="edit requests (default: the demo counterfactual set)")
    parser.add_argument("--format", help="facts file format (default: detected)")
    parser.add_argument("--limit", type=int, help="use only the first N requests")


def _read_facts(args: argparse.Namespace):
    from core.facts.io import read_facts
    from core.util.paths import demo_edits_file

    facts = read_facts(args.facts or demo_edits_file(), format=args.format)
    return facts[: args.limit] if args.limit else facts


def evaluate_command(args: argparse.Namespace) -> dict:
    from core.metrics.evaluation import DEFAULT_PROTOCOL, evaluate
    from core.workflows.editing import headline

    facts = _read_facts(args)
    lm = load_from_args(args)
    report = evaluate(lm, facts)
    return {"model": lm.info.name, "protocol": DEFAULT_PROTOCOL, "aggregate": headline(report),
            "all": report.summary(), "facts": [{**m.to_dict(), "subject": f.subject, "target_new": f.target_new}
                                               for f, m in zip(facts, report.facts, strict=True)]}


def _hparams(args: argparse.Namespace, lm):
    """(hparams, whether the layer is auto); a ``layer(s)=auto`` override is left to the caller."""
    from core.methods import resolve_hparams
    from core.methods.hparams import parse_assignments
    from core.workflows.auto_layer import auto_requested, strip_auto

    overrides = parse_assignments(args.assignments)
    auto = getattr(args, "layer", None) == "auto" or auto_requested(overrides)
    return resolve_hparams(lm, args.method, strip_auto(overrides), base=preset_base(args, lm),
                           file=args.hparams), auto


def _auto_edit(args: argparse.Namespace, lm, facts, hparams) -> dict:
    """``edit --layer auto``: per-fact traced layers (independent) or one shared one."""
    from core.workflows.auto_layer import TraceCache, auto_layer_hparams, run_independent_auto
    from core.workflows.runs import run_batch, run_sequential

    if args.mode == "independent" and not args.out:
        return run_independent_auto(lm, facts, args.method, hparams, TraceCache())
    hparams, choice = auto_layer_hparams(lm, args.method, hparams, facts, TraceCache())
    if args.mode == "independent":
        return {**_independent(args, lm, facts, hparams), "auto_layer": [choice.to_dict()]}
    save = (lambda model: save_model(model, args.out)) if args.out else None
    run = run_batch if args.mode == "batch" else partial(run_sequential, batch_size=args.batch_size)
    return {**run(lm, facts, args.method, hparams=hparams, while_applied=save), "auto_layer": [choice.to_dict()]}


def save_model(lm, out: Path) -> None:
    from core.model.saving import save_model_folder

    save_model_folder(lm, out)


def edit_command(args: argparse.Namespace) -> dict:
    from core.workflows.runs import run_batch, run_sequential

    facts = _read_facts(args)
    if args.batch_size != 1 and args.mode != "sequential":
        raise ValueError("--batch-size is for --mode sequential (consecutive batches); --mode batch edits "
                         "all facts in one delta")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, not {args.batch_size}")
    if args.mode == "independent" and args.out and len(facts) != 1:
        raise ValueError("--out with --mode independent needs exactly one fact; use --mode sequential "
                         "to save a model carrying several edits")
    lm = load_from_args(args)
    hparams, auto = _hparams(args, lm)
    if not auto:
        _statistics_first(lm, args.method, hparams)
    if auto:
        report = _auto_edit(args, lm, facts, hparams)
    elif args.mode == "independent":
        report = _independent(args, lm, facts, hparams)
    else:
        save = (lambda model: save_model(model, args.out)) if args.out else None
        run = run_batch if args.mode == "batch" else partial(run_sequential, batch_size=args.batch_size)
        report = run(lm, facts, args.method, hparams=hparams, while_applied=save)
    if args.out:
        report["saved_to"] = str(args.out)
    return report


def _statistics_first(lm, method: str, hparams) -> None:
    """Compute the covariances the method needs before editing, showing tokens, rate and
    time left (the edits then read them from the cache)."""
    from core.cli.options import live_progress
    from core.workflows.stats_plan import compute_statistics, needed_statistics

    missing = [need.spec for need in needed_statistics(lm, method, hparams) if not need.status.cached]
    if missing:
        compute_statistics(lm, missing, live_progress("statistics: "))


def _independent(args: argparse.Namespace, lm, facts, hparams) -> dict:
    from core.workflows.runs import run_independent

    save = (lambda model: save_model(model, args.out)) if args.out else None
    return run_independent(lm, facts, args.method, hparams=hparams, while_applied=save)


def _fmt(metrics: dict, name: str) -> str:
    return f"{metrics[name]:.2f}" if name in metrics else "  - "


def _render_eval(result: dict) -> str:
    """The means, then a row per fact (trial 41: which fact failed was only in --json)."""
    agg = result["aggregate"]
    lines = [f"{result['model']}: {len(result['facts'])} facts ({result['protocol']})"]
    lines += [f"  {name:<12} {value:.3f}" for name, value in agg.items()]
    names = ("reliability", "generality", "locality")
    lines.append(f"{'fact':<12} {'subject':<24} {'target':<18} " + " ".join(f"{n[:4]:>5}" for n in names))
    for fact in result["facts"]:
        cells = " ".join(f"{_fmt(fact['summary'], n):>5}" for n in names)
        lines.append(f"{fact['fact_id'][:12]:<12} {fact.get('subject', '')[:24]:<24} "
                     f"{fact.get('target_new', '')[:18]:<18} {cells}")
    return "\n".join(lines) + "\n"


def _render_edit(result: dict) -> str:
    names = ("reliability", "generality", "locality")
    head = (f"{'fact':<12} {'subject':<24} {'target':<18} " + " ".join(f"{n[:4]:>9}" for n in names)
            + "  seconds  verdict")
    lines = [f"{result['method']} on {result['model']['name']} ({result['mode']}, {result['protocol']}); pre -> post",
             head]
    for e in result["edits"]:
        cells = " ".join(f"{_fmt(e['pre'], n)}>{_fmt(e['post'], n)}" for n in names)
        who = f"{e['fact_id'][:12]:<12} {e['subject'][:24]:<24} {e['target_new'][:18]:<18}"
        lines.append(f"{who} {cells}  {e['seconds']:7.2f}  {e['verdict']['verdict'].upper()}")
    agg = result["aggregate"]
    lines.append("aggregate: " + ", ".join(f"{n} {_fmt(agg['pre'], n)} -> {_fmt(agg['post'], n)}" for n in names))
    if "retention" in result:
        ret = result["retention"]["after_all_edits"]
        lines.append("after all edits: " + ", ".join(f"{k} {v:.2f}" for k, v in ret.items()))
    lines += _fluency_lines(result.get("fluency", {}))
    seq = result.get("sequential", {})
    if seq.get("batch_size", 1) > 1:
        lines.append(f"consecutive batches: {seq['steps']} steps of up to {seq['batch_size']} facts")
    if "batch" in result:
        lines.append(f"one delta for {result['batch']['facts']} facts in {result['batch']['seconds']:.2f}s")
    lines.append(f"seconds per edit: {result['seconds_per_edit']:.2f}")
    kept = "the preset's layer (no informative trace)"
    lines += [f"layer auto: traced {c['traced']} -> edited at {c['layers'] or kept}"
              for c in result.get("auto_layer", [])]
    lines += verdict_lines(result["verdict"])
    return "\n".join(lines) + "\n"


def verdict_lines(verdict: dict) -> list[str]:
    """The verdict first in capitals, so a failed edit is never read as a success; then what to try."""
    lines = [f"VERDICT: {verdict['summary'].upper() if verdict['verdict'] != 'took' else verdict['summary']}"]
    lines += [f"  try: {tip}" for tip in verdict.get("advice", [])]
    return lines


def _fluency_lines(fluency: dict) -> list[str]:
    """Fluency (n-gram entropy ×100) and ICE's PPL_r (lower is better) of the edited model's text."""
    pre, post = fluency.get("pre", {}), fluency.get("post", {})
    if not post:
        return []
    line = f"fluency: {pre['fluency']:.1f} -> {post['fluency']:.1f}" if "fluency" in pre else \
        f"fluency: {post['fluency']:.1f}"
    if "ppl_r" in post:
        line += f"; PPL_r (post): mean {post['ppl_r']:.2f}, median {post['ppl_r_median']:.2f}"
    return [line]
