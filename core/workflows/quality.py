"""Edit quality of one method over a set of facts: the figures quality targets are set on.

One run (``measure_quality``) edits every fact in the chosen mode with the method's preset
(or given hyperparameters) and condenses the run report into teacher-forced and
generation figures, per group of facts (e.g. same-kind vs other-kind targets) and overall,
with fluency and PPL_r. ``bench/quality.py`` prints them as a table; slow tests assert
the targets of issue 13 on the held-out test split.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.facts.fact import Fact
from core.model.loading import LoadedModel
from core.util.progress import Progress
from core.workflows.runs import run_batch, run_independent, run_sequential

TEACHER_FORCED = ("reliability", "generality", "locality")
GENERATION = tuple(f"generation.{name}" for name in TEACHER_FORCED)
RUNNERS = {"independent": run_independent, "sequential": run_sequential, "batch": run_batch}


@dataclass(frozen=True)
class QualityFigures:
    method: str
    mode: str
    facts: int
    overall: Mapping[str, float]  # teacher-forced and generation.* means, fluency, ppl_r
    by_group: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    seconds_per_edit: float = 0.0
    hparams: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "mode": self.mode, "facts": self.facts, "overall": dict(self.overall),
                "by_group": {k: dict(v) for k, v in self.by_group.items()},
                "seconds_per_edit": self.seconds_per_edit, "hparams": dict(self.hparams)}


def _means(rows: Sequence[Mapping[str, float]], names: Sequence[str]) -> dict[str, float]:
    out = {}
    for name in names:
        values = [row[name] for row in rows if row.get(name) is not None]
        if values:
            out[name] = sum(values) / len(values)
    return out


def _ppl_r(rows: Sequence[Mapping[str, float]]) -> dict[str, float]:
    ratios = sorted(row["ppl_r"] for row in rows if row.get("ppl_r") is not None)
    if not ratios:
        return {}
    return {"ppl_r": sum(ratios) / len(ratios), "ppl_r_median": ratios[len(ratios) // 2]}


def _condense(posts: Sequence[Mapping[str, float]]) -> dict[str, float]:
    return {**_means(posts, (*TEACHER_FORCED, *GENERATION, "fluency")), **_ppl_r(posts)}


def _after_all(report: Mapping[str, Any]) -> list[dict[str, float]] | None:
    """Sequential runs: each fact's teacher-forced figures once all edits are in."""
    retention = report.get("retention")
    if retention is None:
        return None
    return [dict(row) for row in retention["per_fact"]]


def measure_quality(lm: LoadedModel, facts: Sequence[Fact], method: str, mode: str = "independent",
                    groups: Mapping[str, Sequence[str]] | None = None, overrides: Mapping[str, Any] | None = None,
                    hparams: Any | None = None, progress: Progress | None = None) -> QualityFigures:
    """``groups`` maps fact id → the groups it counts in (besides the overall).
    Sequential runs report teacher-forced figures after all edits (retention) and
    generation, fluency and PPL_r right after each edit."""
    if mode not in RUNNERS:
        raise ValueError(f"mode must be one of {', '.join(RUNNERS)}, not {mode!r}")
    report = RUNNERS[mode](lm, facts, method, overrides=overrides, hparams=hparams, progress=progress)
    posts = [dict(edit["post"], fact_id=edit["fact_id"]) for edit in report["edits"]]
    final = _after_all(report)
    if final is not None:
        by_id = {row["fact_id"]: row for row in final}
        posts = [{**post, **{k: v for k, v in by_id[post["fact_id"]].items() if k in TEACHER_FORCED}}
                 for post in posts]
    grouped: dict[str, list[dict]] = {}
    for post in posts:
        for group in (groups or {}).get(post["fact_id"], ()):
            grouped.setdefault(group, []).append(post)
    return QualityFigures(method=report["method"], mode=mode, facts=len(facts), overall=_condense(posts),
                          by_group={name: _condense(rows) for name, rows in sorted(grouped.items())},
                          seconds_per_edit=report["seconds_per_edit"], hparams=report["hparams"])
