"""Workspace subcommands: the versioned edit log (issue 4). Handlers only parse, call
``core.ledger.Workspace`` and shape its records for output; the ledger does the work.

Every command takes ``--workspace PATH`` (else FACTSMITH_WORKSPACE), ``--author NAME``
(else FACTSMITH_AUTHOR, else the OS user) and ``--json``.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
from pathlib import Path
from typing import Any

from core.cli.errors import CommandError
from core.cli.ledger_render import fact_line as _fact_line
from core.cli.ledger_render import (
    render_commit,
    render_diff,
    render_export,
    render_facts,
    render_import,
    render_info,
    render_log,
    render_review,
    render_show,
    render_tags,
)
from core.ledger.errors import LedgerError
from core.ledger.left_out import explain
from core.ledger.state import is_reverted
from core.model.loading import DTYPES
from core.workflows.gates import DEFAULT_THRESHOLDS, verdict_failures

log = logging.getLogger(__name__)

DEFAULT_WORKSPACE = "default"
STATUS_CHOICES = ("pending", "approved", "rejected", "needs-rework", "all")


def common(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--workspace", metavar="PATH",
                        help="workspace file (default: $FACTSMITH_WORKSPACE); 'default': the model's default "
                             "workspace, the one the app opens")
    parser.add_argument("--author", help="who acts (default: $FACTSMITH_AUTHOR, else the OS user name)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--ignore-lock", action="store_true",
                        help="write even while a Factsmith window has the workspace open")
    return parser


def workspace_path(args: argparse.Namespace, value: str | None) -> str | None:
    """``default`` names the default workspace of --model (else the demo model), as the app uses it."""
    if value != DEFAULT_WORKSPACE:
        return value
    from core.model.fingerprint import folder_fingerprint
    from core.util.paths import default_workspace_path, demo_model_dir

    folder = Path(getattr(args, "model", None) or demo_model_dir()).expanduser().resolve()
    return str(default_workspace_path(folder.name, folder_fingerprint(folder)))


def open_ws(args: argparse.Namespace, *, read_only: bool = False, verify: bool = True, records_only: bool = False):
    """``read_only`` for commands that only read: they never write, and work on a read-only file.
    A command that writes is refused while a window holds the workspace's lock (unless
    ``--ignore-lock``): the window keeps its own queue, draft and undo, which a write behind
    its back would contradict. ``records_only``: the command writes nothing of those, only the
    fingerprint of weights it built (checkout), so a window open on it does not stop it."""
    from core.ledger import open_workspace
    from core.ledger.workspace import WORKSPACE_ENV

    path = workspace_path(args, args.workspace) or os.environ.get(WORKSPACE_ENV)
    if not read_only and not records_only and not getattr(args, "ignore_lock", False):
        _refuse_if_open_elsewhere(path)
    return open_workspace(path, author=args.author, read_only=read_only, verify=verify)


def _refuse_if_open_elsewhere(path: str | None) -> None:
    from core.ledger.instance_lock import read_holder

    holder = read_holder(path) if path else None
    if holder is not None and (holder.pid, holder.host) != (os.getpid(), socket.gethostname()):
        raise CommandError(f"workspace {path} is open in {holder.describe()}; close it there first, or pass "
                           "--ignore-lock to write anyway (that window may not show this change until it "
                           "opens the workspace again)")


def _statuses(values: list[str] | None, default: tuple[str, ...] = ()) -> tuple[str, ...]:
    if not values:
        return default
    return () if "all" in values else tuple(values)


def register(sub) -> None:
    _register_workspace(sub)
    imp = common(sub.add_parser("import", help="import facts into the review queue (all rows or none)"))
    imp.add_argument("file", help="JSONL, JSON, CSV file or a datasets folder saved to disk")
    imp.add_argument("--format", help="row format (default: detected)")
    imp.add_argument("--map", action="append", default=None, metavar="COLUMN=FIELD", help="CSV column mapping")
    imp.add_argument("--allow-conflicts", action="store_true",
                     help="import rows that contradict approved or committed facts, as pending")
    imp.add_argument("--skip-invalid", action="store_true",
                     help="import the valid rows and record the invalid ones (line and reason) with the import, "
                          "instead of importing nothing")
    imp.set_defaults(handler=import_facts, render=render_import)

    queue = common(sub.add_parser("queue", help="list facts and their review status"))
    queue.add_argument("--status", action="append", choices=STATUS_CHOICES, help="only this status (repeatable)")
    queue.set_defaults(handler=list_queue, render=render_facts)

    rev = common(sub.add_parser("review", help="approve, reject or send back a fact; --undo reverses"))
    rev.add_argument("facts", nargs="*", metavar="FACT",
                     help="fact id or unique prefix; several take the same decision, all or none")
    decision = rev.add_mutually_exclusive_group(required=True)
    for flag in ("approve", "reject", "rework", "undo"):
        decision.add_argument(f"--{flag}", dest="decision", action="store_const", const=flag)
    rev.add_argument("--note", default="", help="why (required to reject)")
    rev.add_argument("--run", type=int, metavar="N",
                     help="with --approve: approve this run of the fact (default: its latest run not committed "
                          "before; a run that does not edit the fact is refused with the fact's runs listed)")
    rev.set_defaults(handler=review_fact, render=render_review)

    com = common(sub.add_parser("commit", help="commit the approved, computed edits"))
    com.add_argument("-m", "--message", required=True)
    com.add_argument("--run", type=int, action="append", dest="runs", metavar="N",
                     help="commit these runs (default: the run each approved fact's approval approves)")
    for metric in DEFAULT_THRESHOLDS:
        com.add_argument(f"--min-{metric}", type=float, metavar="X",
                         help=f"commit gate: refuse runs under this {metric} (default {DEFAULT_THRESHOLDS[metric]})")
    com.add_argument("--force", action="store_true",
                     help="commit runs under the thresholds anyway; the commit records that it was forced")
    com.add_argument("--device", default="auto",
                     help="where HEAD is built to measure the commit's edits together with HEAD's (auto, cpu, cuda…)")
    com.add_argument("--dtype", default="auto", choices=DTYPES)
    com.set_defaults(handler=make_commit, render=render_commit)
    _register_history(sub)


def _register_workspace(sub) -> None:
    ws = sub.add_parser("workspace", help="create, describe or check a workspace")
    wsub = ws.add_subparsers(dest="workspace_command", metavar="ACTION", required=True)
    init = common(wsub.add_parser("init", help="create a workspace for a base model"))
    init.add_argument("path", help="the workspace file to create")
    init.add_argument("--model", required=True, help="the base model's Hugging Face folder")
    init.set_defaults(handler=init_workspace, render=render_info)
    info = common(wsub.add_parser("info", help="base model, HEAD and counts"))
    info.set_defaults(handler=workspace_info, render=render_info)
    check = common(wsub.add_parser("check", help="check the database and every commit's edits"))
    check.set_defaults(handler=check_workspace, render=lambda r: "".join(f"{p}\n" for p in r["problems"]) or "ok\n")
    recover = common(wsub.add_parser("recover", help="copy what is readable of a damaged workspace into a new file"))
    recover.add_argument("--out", required=True, metavar="NEW", help="the new workspace file to write")
    recover.set_defaults(handler=recover_workspace, render=_render_recover)
    upgrade = common(wsub.add_parser("upgrade", help="migrate a workspace of an older schema (a copy is kept first)"))
    upgrade.set_defaults(handler=upgrade_workspace, render=render_info)


def _register_history(sub) -> None:
    log = common(sub.add_parser("log", help="commits from REF (default HEAD) back to the base"))
    log.add_argument("ref", nargs="?", default="HEAD")
    log.add_argument("-n", "--limit", type=int)
    log.set_defaults(handler=show_log, render=render_log)

    show = common(sub.add_parser("show", help="a commit and every edit in its state"))
    show.add_argument("ref", nargs="?", default="HEAD")
    show.set_defaults(handler=show_commit, render=render_show)

    dif = common(sub.add_parser("diff", help="facts added and removed between two commits, metric changes"))
    dif.add_argument("a")
    dif.add_argument("b")
    dif.set_defaults(handler=diff_commits, render=render_diff)

    tag = common(sub.add_parser("tag", help="name a commit (tags never move); no NAME lists tags"))
    tag.add_argument("name", nargs="?")
    tag.add_argument("ref", nargs="?", default="HEAD")
    tag.set_defaults(handler=tag_commit, render=render_tags)

    exp = common(sub.add_parser("export", help="export reviewed facts with status, note and reviewer"))
    exp.add_argument("--out", required=True, metavar="FILE")
    exp.add_argument("--status", action="append", choices=STATUS_CHOICES, help="default approved; 'all' for all")
    exp.add_argument("--format", default="jsonl", choices=("jsonl", "easyedit", "knowedit", "csv"))
    exp.add_argument("--include-reverted", action="store_true",
                     help="also facts still approved whose committed edit a revert took out (left out by default)")
    exp.set_defaults(handler=export_facts, render=render_export)


def init_workspace(args: argparse.Namespace) -> dict[str, Any]:
    from core.ledger import Workspace

    with Workspace.create(workspace_path(args, args.path), args.model, author=args.author) as ws:
        return _info(ws)


def _info(ws) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for record in ws.queue():
        counts[record.status] = counts.get(record.status, 0) + 1
    head = ws.head()
    return {"workspace": str(ws.path), "schema_version": ws.schema_version, "base": ws.base.to_dict(),
            "head": head.id, "commits": head.seq, "facts": counts, "runs": len(ws.runs()),
            "tags": [t.name for t in ws.tags()]}


def workspace_info(args: argparse.Namespace) -> dict[str, Any]:
    with open_ws(args, read_only=True) as ws:
        return _info(ws)


def upgrade_workspace(args: argparse.Namespace) -> dict[str, Any]:
    with open_ws(args) as ws:  # opening for writing migrates, after a backup
        return _info(ws)


def check_workspace(args: argparse.Namespace) -> dict[str, Any]:
    with open_ws(args, read_only=True, verify=False) as ws:  # reports the damage open would refuse
        problems = ws.check()
    if problems:
        from core.cli.errors import CommandError

        raise CommandError(f"workspace has {len(problems)} problem(s): " + "; ".join(problems))
    return {"workspace": args.workspace, "problems": []}


def recover_workspace(args: argparse.Namespace) -> dict[str, Any]:
    from core.ledger.recover import recover_workspace as recover
    from core.ledger.workspace import WORKSPACE_ENV

    source = workspace_path(args, args.workspace) or os.environ.get(WORKSPACE_ENV)
    if not source:
        from core.cli.errors import CommandError

        raise CommandError(f"workspace recover needs --workspace PATH (or {WORKSPACE_ENV}): the damaged "
                           "workspace to copy from")
    return recover(source, args.out).to_dict()


def _render_recover(r: dict[str, Any]) -> str:
    lines = [f"recovered {r['source']} into {r['out']} (schema version {r['schema_version']})\n"]
    lines += [f"  {t['table']:<16} {t['copied']:>7} rows copied" + ("" if t["complete"] else
              f"; damaged: {t['unreadable']} rows unreadable, later rows may be lost")
              + (f"; {t['refused']} rows not copied (their key was already copied)" if t.get("refused") else "")
              + "\n" for t in r["tables"]]
    lines += [f"problem: {p}\n" for p in r["problems"]] or ["`workspace check` finds no problem in the new file\n"]
    return "".join(lines)


def import_facts(args: argparse.Namespace) -> dict[str, Any]:
    with open_ws(args) as ws:
        return ws.import_file(args.file, args.format, args.map, allow_conflicts=args.allow_conflicts,
                              skip_invalid=args.skip_invalid).to_dict()


def list_queue(args: argparse.Namespace) -> list[dict[str, Any]]:
    with open_ws(args, read_only=True) as ws:
        reverted = ws.reverted_facts()  # "approved" still, but its edit is out of HEAD
        return [{**r.to_dict(), "reverted_in": reverted[r.id].id if is_reverted(r, reverted) else ""}
                for r in ws.queue(_statuses(args.status))]


def review_fact(args: argparse.Namespace) -> dict[str, Any]:
    from core.cli.errors import CommandError

    if (args.decision == "undo") == bool(args.facts):
        raise CommandError("give a fact id with --approve/--reject/--rework, or --undo alone")
    if args.run is not None and args.decision != "approve":
        raise CommandError("--run picks the run an approval approves: use it with --approve")
    with open_ws(args) as ws:
        if args.decision == "undo":
            changes = [ws.undo_review()]
        else:
            changes = ws.review_many(args.facts, args.decision, args.note, args.run)
        rows = [{**change.to_dict(), "fact": _fact_line(ws.fact(change.fact_id))} for change in changes]
        return rows[0] if len(rows) == 1 else {"changes": rows}


def make_commit(args: argparse.Namespace) -> dict[str, Any]:
    thresholds = dict(DEFAULT_THRESHOLDS)
    for metric in DEFAULT_THRESHOLDS:
        if (value := getattr(args, f"min_{metric}")) is not None:
            thresholds[metric] = value
    with open_ws(args) as ws:
        try:
            held = _head_if_measuring_together(ws, args)
            lm, lm_holds = (held.lm, held.commit.id) if held is not None else (None, None)
            commit = ws.commit(args.message, args.runs, thresholds=thresholds, force=args.force, lm=lm,
                               lm_holds=lm_holds).to_dict()
        except LedgerError as exc:
            if args.runs or ws.commit_candidates():  # not "nothing to commit": the message stands
                raise
            shared = [_left_out_row(ws, item) for item in ws.left_out() if item.run_id]
            if not shared:
                raise
            # "nothing to commit … compute one" would be wrong: these facts have runs, shared ones
            raise CommandError("nothing to commit: " + "; ".join(row["why"] for row in shared)) from exc
        notes = [{"run": run_id, "verdict": text} for run_id in commit["applied"]
                 for text in verdict_failures(ws.run(run_id), list(thresholds))]
        return {**commit, "verdict_notes": notes, "left_out": [_left_out_row(ws, item) for item in ws.left_out()]}


def _head_if_measuring_together(ws, args: argparse.Namespace):
    """HEAD checked out (``.lm``, ``.commit``) when the commit must be measured together first
    (several runs, one computed on another state, or a HEAD holding edits they could undo:
    core.workflows.together), else
    None: nothing is loaded. The commit's own checks come first, so a bad run loads nothing."""
    if not ws.needs_measuring_together(args.message, args.runs):
        return None
    from core.model.loading import LoadOptions

    log.info("measuring this commit's runs together with HEAD's edits, on HEAD's weights")
    return ws.checkout("HEAD", options=LoadOptions(device=args.device, dtype=args.dtype))


def _left_out_row(ws, item) -> dict[str, Any]:
    """An approved fact a commit leaves out: why, each fact named, and what to do."""
    return {**item.to_dict(), "why": explain(item, lambda fact_id: f"{fact_id[:12]} {_fact_line(ws.fact(fact_id))}")}


def show_log(args: argparse.Namespace) -> list[dict[str, Any]]:
    with open_ws(args, read_only=True) as ws:
        tags: dict[str, list[str]] = {}
        for tag in ws.tags():
            tags.setdefault(tag.commit_id, []).append(tag.name)
        return [{**c.to_dict(), "tags": tags.get(c.id, [])} for c in ws.log(args.ref, args.limit)]


def show_commit(args: argparse.Namespace) -> dict[str, Any]:
    with open_ws(args, read_only=True) as ws:
        detail = ws.show(args.ref)
        return {**detail.to_dict(), "built_on_dropped": built_on_dropped_rows(ws, detail.commit)}


def built_on_dropped_rows(ws, commit) -> list[dict[str, Any]]:
    """A revert's kept runs computed on a state that held a dropped one, with their facts and method."""
    rows = []
    for run_id, held in ws.built_on_dropped(commit).items():
        run = ws.run(run_id)
        rows.append({"run": run_id, "held": list(held), "method": run.method,
                     "facts": [ws.fact(f).fact.short_id for f in run.fact_ids]})
    return rows


def remeasured_rows(ws, commit) -> list[dict[str, Any]]:
    """A revert's kept runs whose reliability, measured again on the rebuilt state, differs from
    what they showed before it (core.ledger.revert), lowest first."""
    rows = []
    for run_id, figures in ws.show(commit.id).figures.items():
        for metric, at in figures.measured_at.items():
            if at == commit.id:
                rows.append({"run": run_id, "metric": metric, "value": figures.metrics[metric],
                             "alone": figures.own.get(metric)})
    return sorted(rows, key=lambda row: row["value"])


def diff_commits(args: argparse.Namespace) -> dict[str, Any]:
    with open_ws(args, read_only=True) as ws:
        report = ws.diff(args.a, args.b).to_dict()
        for key in ("added", "removed", "rerun"):
            report[key] = [{"id": f, "fact": _fact_line(ws.fact(f))} for f in report[key]]
        return report


def tag_commit(args: argparse.Namespace) -> list[dict[str, Any]]:
    with open_ws(args, read_only=not args.name) as ws:
        if args.name:
            return [ws.tag(args.name, args.ref).to_dict()]
        return [t.to_dict() for t in ws.tags()]


def export_facts(args: argparse.Namespace) -> dict[str, Any]:
    with open_ws(args, read_only=True) as ws:
        return ws.export(args.out, args.format, _statuses(args.status, ("approved",)),
                         include_reverted=args.include_reverted).to_dict()
