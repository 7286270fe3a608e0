"""Workspace subcommands that build weights: run, checkout, revert, patch export/apply.

``--verify-weights`` rehashes the model folder's weight files in full before loading, so a
file changed in place is caught even if the fingerprint cache were fooled; ``patch apply``
on a base model always does (the fingerprint alone decides there).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from core.cli.commands_ledger import built_on_dropped_rows, common, open_ws, remeasured_rows
from core.cli.commands_tune import add_preset_option
from core.cli.ledger_render import render_materialised, render_patch, render_recomputed, render_runs
from core.model.loading import DTYPES, LoadOptions
from core.util.progress import Progress

log = logging.getLogger("factsmith")


def load_options(parser: argparse.ArgumentParser, model_help: str) -> None:
    parser.add_argument("--model", help=model_help)
    parser.add_argument("--device", default="auto", help="auto (CUDA, else MPS, else CPU), cpu, cuda, cuda:N, mps")
    parser.add_argument("--dtype", default="auto", choices=DTYPES)
    parser.add_argument("--allow-pickle", action="store_true", help="allow .bin/.pt checkpoints (weights_only)")
    parser.add_argument("--ignore-memory-check", action="store_true", help="load even if it may not fit")
    parser.add_argument("--verify-weights", action="store_true",
                        help="rehash the model's weight files in full instead of trusting the fingerprint cache")


def _options(args: argparse.Namespace) -> LoadOptions:
    return LoadOptions(device=args.device, dtype=args.dtype, allow_pickle=args.allow_pickle,
                       ignore_memory_check=args.ignore_memory_check)


def _verify(args: argparse.Namespace, ws=None) -> None:
    """With --verify-weights: rehash the folder about to be loaded, refreshing the cache the load reads."""
    if not getattr(args, "verify_weights", False):
        return
    from core.model.fingerprint import folder_fingerprint

    folder = Path(args.model or ws.base.path)
    log.info("rehashing the weights in %s in full", folder)
    folder_fingerprint(folder, rehash=True)


def _progress() -> Progress:
    def report(event) -> None:
        if event.message:
            log.info("%s", event.message)

    return Progress(report)


BASE_HELP = "the base model's folder, if it moved (default: the folder the workspace recorded)"


def register(sub) -> None:
    _register_run_and_checkout(sub)
    _register_recompute(sub)
    _register_patch(sub)


def _register_recompute(sub) -> None:
    again = common(sub.add_parser("recompute", help="revert committed edits and compute each again on the new "
                                                    "HEAD (for edits a revert kept that were computed with it)"))
    again.add_argument("runs", nargs="+", metavar="RUN", help="committed runs: run:N or N")
    again.add_argument("-m", "--message", required=True, help="the revert commit's message")
    load_options(again, BASE_HELP)
    again.set_defaults(handler=recompute_edits, render=render_recomputed)


def _register_run_and_checkout(sub) -> None:
    run = common(sub.add_parser("run", help="compute and store edit runs on HEAD (not committed)"))
    run.add_argument("facts", nargs="+", metavar="ID", help="fact ids or unique prefixes")
    run.add_argument("--method", required=True, help="editing method (rome, ft-l, ft-m, ...)")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a hyperparameter")
    run.add_argument("--batch", action="store_true", help="one run editing all the facts at once")
    add_preset_option(run)
    run.add_argument("--layer", choices=("auto",),
                     help="auto: edit at the layer the causal trace picks (ROME, MEMIT, AlphaEdit, GRACE, FT-L, FT-M; "
                          "also --set layer=auto); runs share one trace per relation")
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


def _register_patch(sub) -> None:
    patch = sub.add_parser("patch", help="export a commit range as one file, or apply one to a model")
    psub = patch.add_subparsers(dest="patch_command", metavar="ACTION", required=True)
    pexp = common(psub.add_parser("export", help="write the edits between two commits to a patch file"))
    pexp.add_argument("--out", required=True, metavar="FILE")
    pexp.add_argument("--from", dest="from_ref", default="ROOT", help="start commit (default ROOT: the base)")
    pexp.add_argument("--to", dest="to_ref", default="HEAD")
    pexp.set_defaults(handler=export_patch, render=_render_export)
    papp = common(psub.add_parser("apply", help="replay a patch on a model folder into a new folder"))
    papp.add_argument("file", help="the patch file")
    papp.add_argument("--out", required=True, metavar="DIR")
    papp.add_argument("--allow-unsigned", action="store_true", help="apply a patch that carries no signature")
    papp.add_argument("--allow-untrusted", action="store_true",
                      help="apply a patch signed by a key you have not trusted (`factsmith keys trust`)")
    load_options(papp, "the model folder to patch: the base model, or a checkout of the patch's start")
    papp.set_defaults(handler=apply_patch, render=_render_apply)


def run_edits(args: argparse.Namespace) -> list[dict[str, Any]]:
    from core.methods.hparams import parse_assignments

    overrides = parse_assignments(args.set)
    if args.layer == "auto":
        from core.workflows.auto_layer import auto_override

        overrides.update(auto_override(args.method))
    with open_ws(args) as ws:
        _verify(args, ws)
        runs = ws.run_edits(args.facts, args.method, overrides, batch=args.batch, model_dir=args.model,
                            options=_options(args), preset=args.preset, progress=_progress())
        return [r.to_dict() for r in runs]


def checkout_commit(args: argparse.Namespace) -> dict[str, Any]:
    with open_ws(args, records_only=True) as ws:  # trial 46: refused while a window was open
        _verify(args, ws)
        return ws.checkout(args.ref, args.out, model_dir=args.model, options=_options(args),
                           progress=_progress()).to_dict()


def revert_edits(args: argparse.Namespace) -> dict[str, Any]:
    with open_ws(args) as ws:
        _verify(args, ws)
        result = ws.revert(args.targets, args.message, model_dir=args.model, options=_options(args),
                           progress=_progress())
        return {**result.to_dict(), "dropped": list(result.commit.dropped), "message": result.commit.message,
                "built_on_dropped": built_on_dropped_rows(ws, result.commit),
                "remeasured": remeasured_rows(ws, result.commit)}


def recompute_edits(args: argparse.Namespace) -> dict[str, Any]:
    with open_ws(args) as ws:
        _verify(args, ws)
        result = ws.recompute(_run_ids(args.runs), args.message, model_dir=args.model, options=_options(args),
                              progress=_progress())
        return {**result.to_dict(), "message": result.revert.commit.message,
                "built_on_dropped": built_on_dropped_rows(ws, result.revert.commit),
                "remeasured": remeasured_rows(ws, result.revert.commit)}


def _run_ids(refs: list[str]) -> list[int]:
    """run:N or N, each a run id; CommandError naming one that is neither."""
    from core.cli.errors import CommandError

    ids = []
    for ref in refs:
        text = ref.removeprefix("run:")
        if not text.isdigit():
            raise CommandError(f"{ref!r} is not a run (run:N or N; `factsmith show HEAD` lists HEAD's runs)")
        ids.append(int(text))
    return ids


def _signer_line(signer: dict[str, Any] | None, unsigned: str) -> str:
    if signer is None:
        return unsigned
    trust = "trusted" if signer["trusted"] else "NOT trusted"
    return f"signed by {signer['name'] or 'an unnamed key'} (key {signer['fingerprint'][:16]}, {trust})\n"


def _render_export(r: dict[str, Any]) -> str:
    return render_patch(r) + _signer_line(r["signer"], "unsigned: there is no author key (make one with "
                                                        "`factsmith keys init`)\n")


def _render_apply(r: dict[str, Any]) -> str:
    from core.ledger.patch_measure import held_text

    held = held_text(r["held"])
    return (render_patch(r) + _signer_line(r["signer"], "the patch was unsigned (applied with --allow-unsigned)\n")
            + (held + "\n" if held else ""))


def export_patch(args: argparse.Namespace) -> dict[str, Any]:
    from core.ledger.patches import patch_signer

    with open_ws(args, read_only=True) as ws:  # reads the log; writes only the patch file
        info = ws.export_patch(args.out, args.from_ref, args.to_ref).to_dict()
    signer = patch_signer(args.out)
    return {**info, "signer": signer.to_dict() if signer else None}


def apply_patch(args: argparse.Namespace) -> dict[str, Any]:
    from core.ledger.patches import PatchTrust
    from core.ledger.patches import apply_patch as apply

    if not args.model:
        from core.cli.errors import CommandError

        raise CommandError("patch apply needs --model DIR: the model folder to patch")
    trust = PatchTrust(allow_unsigned=args.allow_unsigned, allow_untrusted=args.allow_untrusted)
    return apply(args.file, args.model, args.out, _options(args), _progress(), trust,
                 verify_weights=args.verify_weights).to_dict()
