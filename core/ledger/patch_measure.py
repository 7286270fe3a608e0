"""Whether a patch's edits hold on the model it was applied to.

A patch replays deltas computed elsewhere. Even when the weights match the exporter's
bit for bit, an edit may not hold there: a later edit of the range (a forced commit) can
have undone it, or the edits together can change answers none changed alone (trial 47:
Spain's capital became Doha, and the patch said every edit held). On another dtype or
device the weights are not the exporter's at all. So each edit's reliability and locality
are measured with all the patch's edits in place, against the model's answers before them
(teacher-forced, as a commit measures its edits together: core.workflows.together), and
set beside the figures it showed when it was computed, which the patch carries; a locality
that fell names the answers that changed.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.facts.fact import FactError, fact_from_dict
from core.facts.intended import intended_locality
from core.ledger.patch_checks import describe_edit
from core.ledger.records import fell_below
from core.methods.base import EditError
from core.metrics.evaluation import capture_reference
from core.util.progress import Progress
from core.workflows.gates import DEFAULT_THRESHOLDS
from core.workflows.together import NAMED_RUNS, measure_in_place, name_changes

log = logging.getLogger(__name__)
SPILL_BELOW = DEFAULT_THRESHOLDS["locality"]  # a locality above the gate's bound is not reported as a spill


@dataclass(frozen=True)
class EditHeld:
    """One patch edit's reliability on the patched model, beside the one it showed when computed."""

    index: int  # 0-based, in the patch's order
    run: int  # the run's id in the workspace that exported the patch
    label: str  # "edit 2 of 5 (rome: 'The capital of France is' -> 'Lyon')"
    reliability: float | None  # measured on the patched model
    computed: float | None  # measured alone when the edit was computed; None: not recorded
    locality: float | None = None  # measured with every edit of the patch in place
    computed_locality: float | None = None
    changed: tuple[str, ...] = ()  # "The capital of Spain is: Madrid → Doha", where locality fell

    @property
    def fell(self) -> bool:
        """Below what the edit showed when computed: it does not hold here as it did there."""
        return fell_below(self.reliability, self.computed)

    @property
    def spills(self) -> bool:
        """Its locality, with every edit of the patch in place and against the answers before the
        patch, is under the commit gate's default bound and below what it showed when computed:
        answers its locality prompts name as unrelated changed (by it or by another edit)."""
        return fell_below(self.locality, self.computed_locality) and self.locality < SPILL_BELOW

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "changed": list(self.changed), "fell": self.fell, "spills": self.spills}


def _computed(edit: dict[str, Any], metric: str = "reliability") -> float | None:
    value = ((edit.get("metrics") or {}).get("post") or {}).get(metric)
    return float(value) if isinstance(value, (int, float)) else None


def _facts(path_name: str, edit: dict[str, Any], label: str) -> list:
    """The edit's facts; none (so not measured) when they no longer read as facts: the measurement
    only advises, and the patch's chain and hashes vouch for the deltas."""
    try:
        return [fact_from_dict(fact) for fact in edit.get("facts") or []]
    except (FactError, TypeError, AttributeError) as error:
        log.warning("%s: %s is not measured: its fact does not read as one (%s)", path_name, label, error)
        return []


def measured_replay(lm, manifest: dict[str, Any], path_name: str, progress: Progress,
                    replay_all: Callable[[], Any]) -> tuple[EditHeld, ...]:
    """``replay_all`` (the patch's deltas onto ``lm``, which holds the state it starts from), with
    each edit measured on the result: reliability on its prompt, locality on its locality prompts
    against the answers before the replay, and for an edit whose locality fell, the answers that
    changed. An edit that cannot be measured gets no figure: the patch is applied all the same."""
    edits = manifest["edits"]
    labels = [describe_edit(edit, i, len(edits)) for i, edit in enumerate(edits)]
    groups = [(i, [dataclasses.replace(f, paraphrases=(), portability=()) for f in _facts(path_name, edit, labels[i])])
              for i, edit in enumerate(edits)]  # the prompt and locality alone: what is reported
    facts = list({f.id: f for _, group in groups for f in group}.values())
    reference = _measuring(path_name, lambda: capture_reference(lm, facts, progress=progress.stage(0.0, 0.2)))
    replay_all()
    measured = None if reference is None else _measuring(path_name, lambda: measure_in_place(
        lm, groups, reference, intended_locality(facts), progress.stage(0.3, 0.9)))
    figures = measured.together if measured else {}
    held = tuple(EditHeld(i, int(edit.get("run") or 0), labels[i], figures.get(i, {}).get("reliability"),
                          _computed(edit), figures.get(i, {}).get("locality"), _computed(edit, "locality"))
                 for i, edit in enumerate(edits))
    spilling = sorted((h for h in held if h.spills), key=lambda h: h.locality)[:NAMED_RUNS]
    named = _measuring(path_name, lambda: name_changes(lm, measured, groups, [h.index for h in spilling])) \
        if spilling else {}
    return tuple(dataclasses.replace(h, changed=tuple((named or {}).get(h.index, ()))) for h in held)


def _measuring(path_name: str, measure: Callable[[], Any]) -> Any:
    """What ``measure`` returns, or None when it fails as a measurement can (a prompt too long for
    this model's context): the measurement only advises."""
    try:
        return measure()
    except (EditError, RuntimeError, ValueError) as error:
        log.warning("%s: its edits could not be measured on the patched model: %s", path_name, error)
        return None


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
        every = ("every edit's new answer holds as it did" if compared == len(rows) else
                 f"the {compared} edit(s) compared keep their new answers as they did")
        lines = [f"measured on the patched model: {every} when computed (lowest reliability {low:.2f})"]
    else:
        lines = ["measured on the patched model: no edit's reliability could be compared with a figure from when it "
                 "was computed"]
    lines += _spill_lines(rows)
    if unmeasured and (fallen or compared):
        lines.append(f"  {len(unmeasured)} edit(s) could not be measured (no fact to ask, or the measurement failed)")
    if unrecorded and (fallen or compared):
        lines.append(f"  {len(unrecorded)} edit(s) carry no reliability from when they were computed")
    return "\n".join(lines)


def _spill_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The edits whose locality prompts, with the patch's edits together, answer otherwise than
    when those edits were computed, with the answers that changed: reliability alone read "every
    edit holds" while Spain's capital had become Doha (trial 47). Which edit changed them is not
    known; the prompts are the edit's own."""
    spills = [r for r in rows if r.get("spills")]
    if not spills:
        return []
    lines = [f"  but with the patch's edits together, the locality prompts of {len(spills)} edit(s) answer otherwise "
             "than when those edits were computed:"]
    for r in spills:
        now = f": now {'; '.join(r['changed'])}" if r.get("changed") else ""
        lines.append(f"  {r['label']}: locality {r['locality']:.2f} here, {r['computed_locality']:.2f} when "
                     f"computed{now}")
    return lines
