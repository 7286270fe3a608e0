"""Whether a patch's edits hold on the model it was applied to.

A patch replays deltas computed elsewhere. Even when the weights match the exporter's
bit for bit, an edit may not hold there: a later edit of the range (a forced commit) can
have undone it. On another dtype or device the weights are not the exporter's at all. So
after replaying, each edit's reliability is measured on the patched model (teacher-forced,
its edit prompts alone, as a revert measures its kept edits) and set beside the figure it
showed when it was computed, which the patch carries.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from core.facts.fact import FactError, fact_from_dict
from core.ledger.patch_checks import describe_edit
from core.ledger.records import fell_below
from core.methods.base import EditError
from core.util.progress import Progress
from core.workflows.together import measure_state

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EditHeld:
    """One patch edit's reliability on the patched model, beside the one it showed when computed."""

    index: int  # 0-based, in the patch's order
    run: int  # the run's id in the workspace that exported the patch
    label: str  # "edit 2 of 5 (rome: 'The capital of France is' -> 'Lyon')"
    reliability: float | None  # measured on the patched model
    computed: float | None  # measured alone when the edit was computed; None: not recorded

    @property
    def fell(self) -> bool:
        """Below what the edit showed when computed: it does not hold here as it did there."""
        return fell_below(self.reliability, self.computed)

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "fell": self.fell}


def _computed(edit: dict[str, Any]) -> float | None:
    value = ((edit.get("metrics") or {}).get("post") or {}).get("reliability")
    return float(value) if isinstance(value, (int, float)) else None


def _facts(path_name: str, edit: dict[str, Any], label: str) -> list:
    """The edit's facts; none (so not measured) when they no longer read as facts: the measurement
    only advises, and the patch's chain and hashes vouch for the deltas."""
    try:
        return [fact_from_dict(fact) for fact in edit.get("facts") or []]
    except (FactError, TypeError, AttributeError) as error:
        log.warning("%s: %s is not measured: its fact does not read as one (%s)", path_name, label, error)
        return []


def measure_edits(lm, manifest: dict[str, Any], path_name: str, progress: Progress) -> tuple[EditHeld, ...]:
    """Each edit of ``manifest`` measured on ``lm``, which holds the whole patched state (an edit
    that cannot be measured gets no figure: the patch is applied all the same)."""
    edits = manifest["edits"]
    labels = [describe_edit(edit, i, len(edits)) for i, edit in enumerate(edits)]
    runs = [(i, _facts(path_name, edit, labels[i])) for i, edit in enumerate(edits)]
    try:
        measured = measure_state(lm, runs, progress)
    except (EditError, RuntimeError, ValueError) as error:  # e.g. a prompt too long for this model's context
        log.warning("%s: its edits could not be measured on the patched model: %s", path_name, error)
        measured = {}
    return tuple(EditHeld(i, int(edit.get("run") or 0), labels[i], measured.get(i, {}).get("reliability"),
                          _computed(edit)) for i, edit in enumerate(edits))


def held_text(held: tuple[EditHeld, ...] | list[dict[str, Any]]) -> str:
    """A line for the edits that hold, one per edit that does not, and what could not be compared
    (for the CLI and the window)."""
    rows = [h if isinstance(h, dict) else h.to_dict() for h in held]
    if not rows:
        return ""
    fallen = [r for r in rows if r["fell"]]
    unmeasured = [r for r in rows if r["reliability"] is None]
    unrecorded = [r for r in rows if r["reliability"] is not None and r["computed"] is None]
    compared = len(rows) - len(unmeasured) - len(unrecorded)
    if fallen:
        lines = [f"measured on the patched model: {len(fallen)} of {len(rows)} edit(s) do not hold as they did "
                 "when computed"]
        lines += [f"  {r['label']}: reliability {r['reliability']:.2f} here, {r['computed']:.2f} when computed"
                  for r in fallen]
    elif compared:
        low = min(r["reliability"] for r in rows if r["reliability"] is not None)
        every = ("every edit holds as it did" if compared == len(rows) else
                 f"the {compared} edit(s) compared hold as they did")
        lines = [f"measured on the patched model: {every} when computed (lowest reliability {low:.2f})"]
    else:
        lines = ["measured on the patched model: no edit could be compared with a figure from when it was computed"]
    if unmeasured and (fallen or compared):
        lines.append(f"  {len(unmeasured)} edit(s) could not be measured (no fact to ask, or the measurement failed)")
    if unrecorded and (fallen or compared):
        lines.append(f"  {len(unrecorded)} edit(s) carry no reliability from when they were computed")
    return "\n".join(lines)
