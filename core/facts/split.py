"""The project's split of subjects (the developers' guide's training data rule): a subject whose
SHA-256 of its UTF-8 name starts with a hex digit c-f is reserved for evaluation and is never
trained on; 0-b subjects may be. Trained editors and RECIPE's retriever keep to it whatever
files they are given (``core.workflows.train``), and the demo sets are built by it."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from core.facts.fact import Fact

EVALUATION_DIGITS = "cdef"


def is_evaluation_subject(subject: str) -> bool:
    return hashlib.sha256(subject.encode("utf-8")).hexdigest()[0] in EVALUATION_DIGITS


@dataclass(frozen=True)
class TrainingSplit:
    """The requests a training run may use, and what it left out and why."""

    train: tuple[Fact, ...]
    validation: tuple[Fact, ...]
    notes: tuple[str, ...]  # "left out 3 requests for training about subjects reserved for evaluation …", …


def _requests(n: int) -> str:
    return f"{n} request{'s' if n != 1 else ''}"


def _named(facts: Sequence[Fact]) -> str:
    shown = ", ".join(sorted({f.subject for f in facts})[:3])
    more = len({f.subject for f in facts}) - 3
    return shown + (f" and {more} more" if more > 0 else "")


def training_split(train: Sequence[Fact], validation: Sequence[Fact]) -> TrainingSplit:
    """``train`` without evaluation subjects (c-f); ``validation`` without them either (it picks the
    kept editor, so it tunes) and without the training requests themselves (a validation figure on
    them measures recall, not editing). Each leaving-out is said, never silent."""
    kept = tuple(f for f in train if not is_evaluation_subject(f.subject))
    trained = {f.id for f in kept}
    notes = []
    if len(kept) < len(train):
        out = [f for f in train if is_evaluation_subject(f.subject)]
        notes.append(f"left out {_requests(len(out))} for training about subjects reserved for evaluation "
                     f"(SHA-256 of the name starts with c-f): {_named(out)}")
    checked = tuple(f for f in validation if not is_evaluation_subject(f.subject) and f.id not in trained)
    if len(checked) < len(validation):
        reserved = [f for f in validation if is_evaluation_subject(f.subject)]
        both = [f for f in validation if f.id in trained]
        said = [f"{len(reserved)} about evaluation subjects ({_named(reserved)})"] if reserved else []
        said += [f"{len(both)} that are training requests too"] if both else []
        notes.append(f"left out {' and '.join(said)} from the validation requests")
    return TrainingSplit(kept, checked, tuple(notes))
