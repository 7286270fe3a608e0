"""What the slow tests of trained editors share: the demo model's edit files, and single
edits of held-out requests measured teacher-forced, overall and per relation."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

from core.facts.fact import Fact, fact_from_dict
from core.model.fingerprint import state_fingerprint
from core.util.paths import demo_model_dir


def demo_facts(name: str) -> list[Fact]:
    rows = (demo_model_dir() / name).read_text(encoding="utf-8").splitlines()
    return [fact_from_dict(json.loads(r)) for r in rows if r.strip()]


def held_out_figures(lm, method, hp, facts: Sequence[Fact]) -> tuple[dict[str, dict[str, float]], float]:
    """({"all" or relation: {reliability, generality, locality}}, seconds per edit) of single
    edits; asserts the model is left bit-identical."""
    from core.metrics.evaluation import capture_reference, evaluate
    from core.metrics.results import aggregate

    before = state_fingerprint(lm.model)
    reference = capture_reference(lm, facts)
    reports, seconds = [], 0.0
    for fact in facts:
        started = time.perf_counter()
        delta = method.compute(lm, [fact], hp)
        seconds += time.perf_counter() - started
        reports.append((fact.relation, evaluate(lm, [fact], edit=delta, reference=reference,
                                                protocols=("teacher_forced",))))
    assert state_fingerprint(lm.model) == before
    keys = ("reliability", "generality", "locality")
    groups = {"all": [r for _, r in reports]}
    for relation, report in reports:
        groups.setdefault(relation, []).append(report)
    figures = {name: {k: round(v, 3) for k, v in aggregate(rs).items() if k in keys} for name, rs in groups.items()}
    return figures, seconds / len(facts)
