"""The History actions' words: run lists, the ways on from a refused commit, what an export
wrote, a commit in a patch range's lists."""

from __future__ import annotations


def runs_text(run_ids) -> str:
    """"run 4" or "runs 4, 5"."""
    ids = list(run_ids)
    return f"run{'s' if len(ids) != 1 else ''} {', '.join(map(str, ids))}"


def way_on(landing: int) -> str:
    """What to do instead of forcing: with several edits, leave out the one that undoes another;
    with one (trial 45: "the edit that undoes the other" when there was no other), it clashes
    with an edit HEAD holds."""
    if landing > 1:
        return ("leave the edit that undoes the other out of this commit (reject or rework its fact; an edit "
                "already committed is taken back with Revert one edit…).")
    return ("reject or rework this edit's fact, or take back the committed edit it clashes with (Revert one "
            "edit…).")


def exported_text(report) -> str:
    """What an export wrote; facts left out because their edit was reverted come before the path,
    which is elided first, so the way to include them is never cut off (trial 34)."""
    left_out = report.reverted_left_out
    note = (f", left out {left_out} whose edit was reverted (export every status to include "
            f"{'it' if left_out == 1 else 'them'}, marked)") if left_out else ""
    return f"Exported {report.count} fact{'' if report.count == 1 else 's'}{note} to {report.path}"


def ref_label(commit, tags) -> str:
    """A commit in the patch range's lists, with its tags (trial 43: a tagged release was not
    recognisable there)."""
    tagged = f" [{', '.join(tags)}]" if tags else ""
    return f"#{commit.seq} {commit.short_id}{tagged} {commit.kind} {commit.message[:40]}"
