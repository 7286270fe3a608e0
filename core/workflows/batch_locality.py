"""Locality in a batch edit leaves out what the batch changes on purpose.

A fact's locality prompt may be another fact's edit prompt in the same batch (trial 36: the
United Kingdom's "The capital of Cabo Verde is" while Cabo Verde's capital was edited too).
Its answer is meant to change, so counting it as locality counted the batch's own success
as a side effect. Such prompts are dropped from that fact's locality (teacher-forced,
probability and generation alike), and shown in the preview as edited by the batch; which
prompts those are is core.facts.intended's (`intended_locality`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from core.metrics.results import EvaluationReport, FactMetrics

BATCH_KIND = "batch"  # a preview row: a locality prompt another fact of the batch edits


def without_intended(report: EvaluationReport, intended: Mapping[str, frozenset[int]]) -> EvaluationReport:
    """``report`` with each fact's intended locality prompts left out of every protocol."""
    if not intended:
        return report
    facts = tuple(_dropped(m, intended.get(m.fact_id, frozenset())) for m in report.facts)
    return dataclasses.replace(report, facts=facts)


def _dropped(metrics: FactMetrics, indices: frozenset[int]) -> FactMetrics:
    if not indices:
        return metrics

    def keep(values):
        return tuple(v for i, v in enumerate(values) if i not in indices)

    changes = {}
    if metrics.teacher_forced is not None:
        changes["teacher_forced"] = dataclasses.replace(metrics.teacher_forced,
                                                        locality=keep(metrics.teacher_forced.locality))
    if metrics.probability is not None:
        changes["probability"] = dataclasses.replace(metrics.probability,
                                                     neighbours=keep(metrics.probability.neighbours))
    if metrics.generation is not None:
        changes["generation"] = dataclasses.replace(metrics.generation, locality=keep(metrics.generation.locality))
    return dataclasses.replace(metrics, **changes)
