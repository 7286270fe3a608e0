"""Typed, frozen records returned by the ledger API; ``to_dict()`` gives the CLI's JSON."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.facts.fact import Fact

CHANGED = 5e-4  # a measured figure this close to what the run showed (below the 3 decimals shown) is not stored


def fell_below(now: float | None, before: float | None) -> bool:
    """A figure measured later is below the one an edit showed before, by more than the three
    decimals shown: the edit no longer holds as it did (no figure on either side: not compared)."""
    return now is not None and before is not None and now < before - CHANGED

STATUSES = ("pending", "approved", "rejected", "needs-rework")
DECISIONS = {"approve": "approved", "reject": "rejected", "rework": "needs-rework", "reset": "pending"}


@dataclass(frozen=True)
class BaseModel:
    id: int
    name: str
    path: str
    fingerprint: str  # folder fingerprint of the weight files (core.model.fingerprint)
    architecture: str
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class FactRecord:
    fact: Fact
    status: str
    created_at: str
    created_by: str
    import_id: int | None = None
    committed: bool = False  # part of HEAD's state

    @property
    def id(self) -> str:
        return self.fact.id

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "committed": self.committed, **self.fact.to_dict(),
                "created_at": self.created_at, "created_by": self.created_by, "import_id": self.import_id}


@dataclass(frozen=True)
class StatusChange:
    id: int
    fact_id: str
    author: str
    at: str
    from_status: str | None  # None: the fact was added
    to_status: str
    note: str
    undoes: int | None = None  # the history row this one reverses
    run_id: int | None = None  # an approval: the run it approves (None: recorded before schema 5)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Draft:
    id: int
    author: str
    body: dict[str, Any]
    created_at: str
    updated_at: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Duplicate:
    fact_id: str
    lines: tuple[int, ...]
    reason: str
    already: bool = False  # already in the workspace (else repeated in the file)


@dataclass(frozen=True)
class Conflict:
    fact_id: str
    line: int | None
    other_id: str
    other_status: str
    other_target: str
    committed: bool

    def describe(self, where: str) -> str:
        state = "committed" if self.committed else self.other_status
        return (f"{where}: fact {self.fact_id[:12]} conflicts with {state} fact {self.other_id[:12]} "
                f"(same subject and prompt, target {self.other_target!r})")


@dataclass(frozen=True)
class SkippedRow:
    """A row an import left out on request: where (``line`` counted in ``unit``) and why."""

    line: int | None
    unit: str
    field: str | None
    reason: str

    def describe(self) -> str:
        where = f"{self.unit} {self.line}" if self.line is not None else "(file)"
        return f"{where}: " + (f"field {self.field!r}: " if self.field else "") + self.reason


@dataclass(frozen=True)
class ImportReport:
    source: str
    format: str
    import_id: int | None  # None when nothing new was added
    added: tuple[str, ...]
    duplicates: tuple[Duplicate, ...] = ()
    conflicts: tuple[Conflict, ...] = ()
    skipped: tuple[SkippedRow, ...] = ()  # bad rows left out (skip_invalid)
    ignored: tuple[tuple[str, int], ...] = ()  # (field with no place in a Fact, rows holding it)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "format": self.format, "import_id": self.import_id,
                "added": list(self.added), "duplicates": [d.__dict__ for d in self.duplicates],
                "conflicts": [c.__dict__ for c in self.conflicts],
                "skipped": [s.__dict__ for s in self.skipped],
                "ignored": [{"field": name, "rows": rows} for name, rows in self.ignored]}


@dataclass(frozen=True)
class RunRecord:
    id: int
    fact_ids: tuple[str, ...]
    method: str
    hparams: dict[str, Any]
    overrides: dict[str, str]
    seed: int | None
    environment: dict[str, Any]
    metrics: dict[str, Any]
    previews: Any  # a list of {fact_id, kind, prompt, before, after} from core.workflows.editing, or a dict
    seconds: float
    delta_sha256: str
    delta_bytes: int
    computed_on: str  # state fingerprint of the weights the delta was computed against
    author: str
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "fact_ids": list(self.fact_ids)}


@dataclass(frozen=True)
class CommitRecord:
    id: str
    seq: int
    parent_id: str | None
    kind: str  # root | commit | revert
    author: str
    message: str
    created_at: str
    state_fingerprint: str
    applied: tuple[int, ...] = ()  # run ids this commit adds, in order
    dropped: tuple[int, ...] = ()  # run ids this commit removes (revert)
    gate: Mapping[str, Any] | None = None  # thresholds, warnings, forced (GateCheck.to_dict); None: not gated

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def forced(self) -> bool:
        return bool(self.gate and self.gate.get("forced"))

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "applied": list(self.applied), "dropped": list(self.dropped),
                "gate": dict(self.gate) if self.gate is not None else None}


@dataclass(frozen=True)
class RunFigures:
    """A run's gated figures in a state (core.ledger.figures): its own (measured alone, on the
    state it was computed on), except where a commit or a revert up to that state measured a
    metric with other edits in place and found it different: ``measured_at`` maps such a metric
    to that commit's id."""

    metrics: Mapping[str, float | None]
    own: Mapping[str, float | None]
    measured_at: Mapping[str, str] = field(default_factory=dict)

    def fell(self, metric: str = "reliability", at: str | None = None) -> bool:
        """Measured with other edits in place (by commit ``at``, if given) below what the edit
        measured alone: the edit no longer holds as it did."""
        alone, where = self.own.get(metric), self.measured_at.get(metric)
        measured = where is not None and (at is None or where == at)
        return measured and fell_below(self.metrics.get(metric), 1.0 if alone is None else alone)

    def to_dict(self) -> dict[str, Any]:
        return {"metrics": dict(self.metrics), "own": dict(self.own), "measured_at": dict(self.measured_at),
                "fell": [metric for metric in self.metrics if self.fell(metric)]}


@dataclass(frozen=True)
class CommitDetail:
    commit: CommitRecord
    runs: tuple[RunRecord, ...]  # the whole state: every run applied, in order
    facts: tuple[FactRecord, ...]  # the facts of those runs
    tags: tuple[str, ...] = ()
    figures: Mapping[int, RunFigures] = field(default_factory=dict)  # by run id: as last measured

    def to_dict(self) -> dict[str, Any]:
        return {**self.commit.to_dict(), "tags": list(self.tags), "runs": [r.to_dict() for r in self.runs],
                "facts": [f.to_dict() for f in self.facts],
                "figures": {str(run): f.to_dict() for run, f in self.figures.items()}}


@dataclass(frozen=True)
class TagRecord:
    name: str
    commit_id: str
    author: str
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class MetricChange:
    protocol: str
    name: str
    a: float | None
    b: float | None

    @property
    def change(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a


@dataclass(frozen=True)
class DiffReport:
    a: str
    b: str
    added: tuple[str, ...]  # fact ids in B's state, not in A's
    removed: tuple[str, ...]
    rerun: tuple[str, ...]  # in both, through different runs
    metrics: tuple[MetricChange, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "added": list(self.added), "removed": list(self.removed),
                "rerun": list(self.rerun),
                "metrics": [{**m.__dict__, "change": m.change} for m in self.metrics]}


@dataclass(frozen=True)
class Materialised:
    """A commit's weights, built from the base by replaying its deltas in order."""

    commit: CommitRecord
    weights_fingerprint: str  # core.model.fingerprint.state_fingerprint of the result
    dtype: str
    device: str
    verified: bool  # equal to the fingerprint recorded earlier for this state, dtype and device
    runs: int = 0  # deltas replayed
    out: str | None = None  # the Hugging Face folder written, if any
    lm: Any = field(default=None, compare=False, repr=False)  # the LoadedModel, when kept in memory

    def to_dict(self) -> dict[str, Any]:
        return {"commit": self.commit.id, "state_fingerprint": self.commit.state_fingerprint,
                "weights_fingerprint": self.weights_fingerprint, "dtype": self.dtype, "device": self.device,
                "verified": self.verified, "out": self.out, "runs": self.runs}


@dataclass(frozen=True)
class ExportReport:
    path: str
    format: str
    count: int
    statuses: tuple[str, ...]
    reverted_left_out: int = 0  # facts of those statuses whose edit a revert took out

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "statuses": list(self.statuses)}


@dataclass(frozen=True)
class PatchInfo:
    """A patch file written from a commit range."""

    path: str
    base_fingerprint: str
    from_commit: str
    to_commit: str
    to_state: str
    edits: int
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class PatchApplied:
    """A patch applied to a model folder and written out as a new one."""

    patch: str
    model: str
    out: str
    to_state: str
    weights_fingerprint: str
    dtype: str
    device: str
    verified: bool  # equal to the weights fingerprint the patch carries for this dtype and device
    edits: int
    lm: Any = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "lm"}
