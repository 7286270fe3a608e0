"""``factsmith train``: train an editor network (MEND, KE, InstructEdit, RECIPE) for a model on edit requests."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from core.cli.options import add_model_options, load_from_args
from core.methods import TRAINED_EDITORS

log = logging.getLogger("factsmith")

TRAINABLE = TRAINED_EDITORS


def register(sub) -> None:
    tr = sub.add_parser("train", help=f"train an editor network ({', '.join(TRAINABLE)}) for a model on edit requests")
    add_model_options(tr)
    tr.add_argument("--method", required=True, choices=TRAINABLE, help="the trained editor")
    tr.add_argument("--facts", type=Path, nargs="+", required=True, metavar="FILE",
                    help="training edit requests (any format `factsmith edit --facts` reads), one or more files")
    tr.add_argument("--val", type=Path, metavar="FILE", help="validation edit requests (never trained on)")
    tr.add_argument("--steps", type=int, help="training steps in all (default: the budget the method's preset "
                    "was chosen with for this model: 600; on small models ke 1200, recipe 1500)")
    tr.add_argument("--out", type=Path, metavar="CKPT",
                    help="checkpoint file (.safetensors; default: the cache's, which `edit --method M` reads)")
    tr.add_argument("--resume", action="store_true", help="continue from the checkpoint at --out")
    tr.add_argument("--force", action="store_true", help="replace a checkpoint already at --out (without it, "
                    "a new run is refused there)")
    tr.add_argument("--save-every", type=int, default=50, metavar="N", help="checkpoint every N steps")
    tr.add_argument("--val-every", type=int, default=100, metavar="N", help="validate every N steps")
    tr.add_argument("--val-size", type=int, default=20, metavar="N", help="validation requests used")
    tr.add_argument("--keep", choices=("last", "best"),
                    help="the editor that edits: the last step's (default; --resume: the run's own choice), or the "
                         "validated one that best met the verdict's targets (needs --val; training resumes from the "
                         "last either way)")
    tr.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE",
                    help="override a hyperparameter of the method's preset")
    tr.add_argument("--json", action="store_true", help="machine-readable output")
    tr.set_defaults(handler=train_command, render=render_train)


def _progress():
    """Steps, loss, rate and time left on stderr every few seconds, without --verbose: a demo
    training run takes minutes, and a silent terminal looks hung."""
    from core.cli.options import live_progress

    return live_progress("training: ", every_s=5.0)


def train_command(args: argparse.Namespace) -> dict[str, Any]:
    from core.cli.errors import CommandError
    from core.facts.io import read_facts
    from core.methods.base import EditError
    from core.methods.hparams import parse_assignments
    from core.workflows.train import TrainOptions, train_editor

    facts = [f for path in args.facts for f in read_facts(path)]
    val = read_facts(args.val) if args.val else []
    overrides = parse_assignments(args.assignments)
    lm = load_from_args(args)
    options = TrainOptions(steps=args.steps, save_every=args.save_every, val_every=args.val_every,
                           val_size=args.val_size, resume=args.resume, keep=args.keep, replace=args.force)
    try:
        result = train_editor(lm, args.method, facts, val, options, args.out, overrides, _progress())
    except EditError as exc:
        raise CommandError(str(exc)) from exc
    except KeyboardInterrupt:
        raise CommandError("interrupted: the last checkpoint written is intact; --resume continues it") from None
    from core.methods.editor_ckpt import default_checkpoint

    record = result.record
    found = Path(result.path).resolve() == default_checkpoint(record.method, record.fingerprint).resolve()
    return {"method": record.method, "checkpoint": str(result.path), "default_place": found,
            "model": record.model_name,
            "fingerprint": record.fingerprint, "data_sha256": record.data_sha256, "steps": record.step,
            "resumed_from": result.resumed_from, "seconds": record.seconds, "training_facts": result.trained_on,
            "left_out": list(result.notes),
            "first_loss": record.losses[0] if record.losses else None,
            "last_loss": record.losses[-1] if record.losses else None,
            "validation": list(record.validation), "kept_step": record.editing_step, "hparams": dict(record.hparams)}


def render_train(r: dict[str, Any]) -> str:
    resumed = f", resumed from step {r['resumed_from']}" if r["resumed_from"] else ""
    lines = [f"{r['method']} editor for {r['model']} ({r['fingerprint'][:16]}): {r['steps']} steps on "
             f"{r['training_facts']} requests, {r['seconds']:.0f} s of training in all{resumed}"]
    lines += [f"note: {note}" for note in r.get("left_out", ())]
    if r["first_loss"] is not None:
        lines.append(f"loss {r['first_loss']:.4f} -> {r['last_loss']:.4f}")
    for v in r["validation"]:  # each says its step: the last may be older than the checkpoint (trial 37)
        older = " (before the last steps)" if v["step"] < r["steps"] else ""
        lines.append(f"validation at step {v['step']}{older}: " + ", ".join(f"{k} {x:.3f}" for k, x in v.items()
                                                                            if k != "step"))
    if r["kept_step"] != r["steps"]:
        lines.append(f"edits with the editor of step {r['kept_step']}: its validation met the verdict's targets best "
                     f"(training resumes from step {r['steps']})")
    if r.get("default_place"):  # where `edit --method M` looks for this model's editor (trial 45)
        lines.append(f"checkpoint: {r['checkpoint']}, where editing finds it: `factsmith edit --method "
                     f"{r['method']}` on this model uses it")
    else:
        lines.append(f"checkpoint: {r['checkpoint']}; edit with `factsmith edit --method {r['method']} "
                     f"--set checkpoint={r['checkpoint']}`")
    return "\n".join(lines) + "\n"
