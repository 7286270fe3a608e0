"""Workspace subcommands that build weights: run, checkout, revert, patch export/apply."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from core.cli.commands_ledger import common, open_ws
from core.cli.ledger_render import render_materialised, render_patch, render_runs
from core.model.loading import DTYPES, LoadOptions
from core.util.progress import Progress

log = logging.getLogger("factsmith")


def load_options(parser: argparse.ArgumentParser, model_help: str) -> None:
    parser.add_argument("--model", help=model_help)
    parser.add_argument("--device", default="auto", help="auto (CUDA, else MPS, else CPU), cpu, cuda, cuda:N, mps")
    parser.add_argument("--dtype", default="auto", choices=DTYPES)
    parser.add_argument("--allow-pickle", action="store_true", help="allow .bin/.pt checkpoints (weights_only)")
    parser.add_argument("--ignore-memory-check", action="store_true", help="load even if it may not fit")


def _options(args: argparse.Namespace) -> LoadOptions:
    return LoadOptions(device=args.device, dtype=args.dtype, allow_pickle=args.allow_pickle,
                       ignore_memory_check=args.ignore_memory_check)


def _progress() -> Progress:
    def report(event) -> None:
        if event.message:
            log.info("%s", event.message)

    return Progress(report)


BASE_HELP = "the base model's folder, if it moved (default: the folder the workspace recorded)"


def register(sub) -> None:
    run = common(sub.add_parser("run", help="compute and store edit runs on HEAD (not committed)"))
    run.add_argument("facts", nargs="+", metavar="ID", help="fact ids or unique prefixes")
    run.add_argument("--method", required=True, help="editing method (rome, ft-l, ft-m, ...)")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a hyperparameter")
    run.add_argument("--batch", action="store_true", help="one run editing all the facts at once")
    load_options(run, BASE_HELP)
    run.set_defaults(handler=run_edits, render=render_runs)

    checkout = common(sub.add_parser("checkout", help="build a commit's weights; --out writes a model folder"))
    checkout.add_argument("ref", nargs="?", default="HEAD", help="commit id or prefix, tag, HEAD, HEAD~N, ROOT")
    checkout.add_argument("--out", metavar="DIR", help="write a Hugging Face folder (safetensors) here")
    load_options(checkout, BASE_HELP)
    checkout.set_defaults(handler=checkout_commit, render=render_materialised)

    rev = common(sub.add_parser("revert", help="a new commit without some edits, rebuilt from the base"))
    rev.add_argument("targets", nargs="+", metavar="REF",
                     help="a commit (its edits), a fact id, or run:N; prefix commit: or fact: if ambiguous")
    rev.add_argument("-m", "--message", required=True)
    load_options(rev, BASE_HELP)
    rev.set_defaults(handler=revert_edits, render=render_materialised)

    patch = sub.add_parser("patch", help="export a commit range as one file, or apply one to a model")
    psub = patch.add_subparsers(dest="patch_command", metavar="ACTION", required=True)
    pexp = common(psub.add_parser("export", help="write the edits between two commits to a patch file"))
    pexp.add_argument("--out", required=True, metavar="FILE")
    pexp.add_argument("--from", dest="from_ref", default="ROOT", help="start commit (default ROOT: the base)")
    pexp.add_argument("--to", dest="to_ref", default="HEAD")
    pexp.set_defaults(handler=export_patch, render=render_patch)
    papp = common(psub.add_parser("apply", help="replay a patch on a model folder into a new folder"))
    papp.add_argument("file", help="the patch file")
    papp.add_argument("--out", required=True, metavar="DIR")
    load_options(papp, "the model folder to patch: the base model, or a checkout of the patch's start")
    papp.set_defaults(handler=apply_patch, render=render_patch)


def run_edits(args: argparse.Namespace) -> list[dict[str, Any]]:
    from core.methods.hparams import parse_assignments

    overrides = parse_assignments(args.set)
    with open_ws(args) as ws:
        runs = ws.run_edits(args.facts, args.method, overrides, batch=args.batch, model_dir=args.model,
                            options=_options(args), progress=_progress())
        return [r.to_dict() for r in runs]


def checkout_commit(args: argparse.Namespace) -> dict[str, Any]:
    with open_ws(args) as ws:
        return ws.checkout(args.ref, args.out, model_dir=args.model, options=_options(args),
                           progress=_progress()).to_dict()


def revert_edits(args: argparse.Namespace) -> dict[str, Any]:
    with open_ws(args) as ws:
        result = ws.revert(args.targets, args.message, model_dir=args.model, options=_options(args),
                           progress=_progress())
        return {**result.to_dict(), "dropped": list(result.commit.dropped), "message": result.commit.message}


def export_patch(args: argparse.Namespace) -> dict[str, Any]:
    with open_ws(args) as ws:
        return ws.export_patch(args.out, args.from_ref, args.to_ref).to_dict()


def apply_patch(args: argparse.Namespace) -> dict[str, Any]:
    from core.ledger import apply_patch as apply

    if not args.model:
        from core.cli.errors import CommandError

        raise CommandError("patch apply needs --model DIR: the model folder to patch")
    return apply(args.file, args.model, args.out, _options(args), _progress()).to_dict()
