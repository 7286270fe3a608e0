"""Whether a patch's edits hold on the model it was applied to.

A patch replays deltas computed elsewhere. Even when the weights match the exporter's
bit for bit, an edit may not hold there: a later edit of the range (a forced commit) can
have undone it. On another dtype or device the weights are not the exporter's at all. So
after replaying, each edit's reliability is measured on the patched model (teacher-forced,
its edit prompts alone, as a revert measures its kept edits) and set beside the figure it
showed when it was computed, which the patch carries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.facts.fact import FactError, fact_from_dict
from core.ledger.errors import PatchError
from core.ledger.figures import CHANGED
from core.ledger.patch_checks import describe_edit
from core.util.progress import Progress
from core.workflows.together import measure_state


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
        return (self.reliability is not None and self.computed is not None
                and self.reliability < self.computed - CHANGED)

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "fell": self.fell}


def _computed(edit: dict[str, Any]) -> float | None:
    value = ((edit.get("metrics") or {}).get("post") or {}).get("reliability")
    return float(value) if isinstance(value, (int, float)) else None


def _facts(path_name: str, edit: dict[str, Any], label: str) -> list:
    try:
        return [fact_from_dict(fact) for fact in edit.get("facts") or []]
    except (FactError, TypeError, AttributeError) as error:
        raise PatchError(f"{path_name}: {label}: its fact is malformed ({error})") from error


def measure_edits(lm, manifest: dict[str, Any], path_name: str, progress: Progress) -> tuple[EditHeld, ...]:
    """Each edit of ``manifest`` measured on ``lm``, which holds the whole patched state."""
    edits = manifest["edits"]
    labels = [describe_edit(edit, i, len(edits)) for i, edit in enumerate(edits)]
    runs = [(i, _facts(path_name, edit, labels[i])) for i, edit in enumerate(edits)]
    measured = measure_state(lm, runs, progress)
    return tuple(EditHeld(i, int(edit.get("run") or 0), labels[i], measured.get(i, {}).get("reliability"),
                          _computed(edit)) for i, edit in enumerate(edits))


def held_text(held: tuple[EditHeld, ...] | list[dict[str, Any]]) -> str:
    """One line for edits that hold, one per edit that does not (for the CLI and the window)."""
    rows = [h if isinstance(h, dict) else h.to_dict() for h in held]
    if not rows:
        return ""
    fallen = [r for r in rows if r["fell"]]
    if not fallen:
        measured = [r["reliability"] for r in rows if r["reliability"] is not None]
        low = f" (lowest reliability {min(measured):.2f})" if measured else ""
        return f"measured on the patched model: every edit holds as it did when computed{low}"
    lines = [f"measured on the patched model: {len(fallen)} of {len(rows)} edit(s) do not hold as they did "
             "when computed"]
    lines += [f"  {r['label']}: reliability {r['reliability']:.2f} here, {r['computed']:.2f} when computed"
              for r in fallen]
    return "\n".join(lines)
