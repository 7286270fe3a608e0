"""``factsmith tune``: search a method's grid on the user's facts and save the winner as
this model's tuned preset (``edit --preset tuned`` then uses it)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from core.cli.options import add_model_options, live_progress, load_from_args

PRESET_CHOICES = ("default", "tuned")


def register(sub) -> None:
    tu = sub.add_parser("tune", help="tune a method's preset for this model on a facts file and save it")
    add_model_options(tu)
    tu.add_argument("--method", required=True, help="editing method, as for `factsmith edit`")
    tu.add_argument("--facts", type=Path, required=True, help="the facts to tune on (a third of the subjects is "
                                                               "held out to check the winner)")
    tu.add_argument("--format", help="facts file format (default: detected)")
    tu.add_argument("--budget", type=int, metavar="N", help="use only the first N facts of the file: each grid "
                                                             "point edits every tuning fact, so time grows with N")
    saving = tu.add_mutually_exclusive_group()
    saving.add_argument("--no-save", action="store_true", help="report only; keep the stored preset as it is")
    saving.add_argument("--save-anyway", action="store_true",
                        help="save the winner even when it does no better than the default on the held-out facts")
    tu.add_argument("--json", action="store_true", help="machine-readable output")
    tu.set_defaults(handler=tune_command, render=render_tune)


def add_preset_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default="default", metavar="NAME",
                        help="base hyperparameters: default (the method's preset), tuned (the one "
                             "`factsmith tune` saved for this model), or a named variant of the "
                             "method's preset (e.g. ft-m's `unconstrained`)")


def preset_base(args: argparse.Namespace, lm) -> Any | None:
    """The hyperparameters ``--preset`` names (None: the method's default preset)."""
    from core.workflows.edit_choice import named_preset

    return named_preset(lm, args.method, getattr(args, "preset", "default"))


def tune_command(args: argparse.Namespace) -> dict[str, Any]:
    from core.cli.errors import CommandError
    from core.facts.io import read_facts
    from core.methods import get_method
    from core.workflows.tune import tune
    from core.workflows.tune_store import tune_and_save

    if args.budget is not None and args.budget < 1:
        raise CommandError(f"--budget {args.budget}: give a positive number of facts")
    get_method(args.method)  # an unknown name is reported before the model loads
    facts = read_facts(args.facts, format=args.format)
    lm = load_from_args(args)
    shown = live_progress("tune: ", every_s=2.0)  # minutes of work: say what is being tried
    if args.no_save:
        return {**tune(lm, args.method, facts, shown, budget=args.budget).to_dict(), "saved_to": None,
                "not_saved": "no-save"}
    result, saved = tune_and_save(lm, args.method, facts, shown, always=args.save_anyway, budget=args.budget)
    return {**result.to_dict(), "saved_to": str(saved.path) if saved else None,
            "not_saved": None if saved else "no better"}


def _cell(value: float | None) -> str:
    return "   -" if value is None else f"{value:.2f}"


def _row(scores: dict | None) -> str:
    if scores is None:
        return "failed"
    return " ".join(f"{_cell(scores[n]):>5}" for n in ("reliability", "generality", "locality"))


def render_tune(r: dict[str, Any]) -> str:
    fields = [a["field"] for a in r["grid"]]
    lines = [f"{r['method']} on {r['model']}: {len(r['candidates'])} candidates, tuned on {r['tuning_facts']} "
             f"facts, {r['held_out_facts']} held out ({r['seconds']:.0f}s)",
             "  ".join(f"{f:>18}" for f in fields) + "    rel   gen   loc"]
    for c in r["candidates"]:
        mark = " <- winner" if c["index"] == r["winner"]["index"] else (" (preset)" if c["distance"] == 0 else "")
        values = "  ".join(f"{_value(c['values'][f]):>18}" for f in fields)
        lines.append(f"{values}  {_row(c['scores'])}{mark}")
    held = r["held_out"]
    lines += [f"objective: {r['objective']}",
              f"held out ({r['held_out_facts']} facts)   rel   gen   loc",
              f"  default preset      {_row(held['preset'])}",
              f"  tuned preset        {_row(held['tuned'])}"]
    lines.append(_saved_line(r))
    return "\n".join(lines) + "\n"


def _saved_line(r: dict[str, Any]) -> str:
    if r["saved_to"]:
        better = "" if r["improves"] else " (--save-anyway: it does no better than the default on the held-out facts)"
        return f"saved to {r['saved_to']}{better}; use it with `factsmith edit --method {r['method']} --preset tuned`"
    if r.get("not_saved") == "no better":
        return ("not saved: on the held-out facts the tuned preset does no better than the default, which stays "
                "(--save-anyway keeps it all the same)")
    return "not saved (--no-save)"


def _value(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return "none" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
