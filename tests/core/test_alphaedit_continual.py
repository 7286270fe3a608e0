"""Issue 16's lifelong targets for AlphaEdit, reduced: consecutive batches on the demo model,
MEMIT with the same schedule beside it (``bench/continual.py`` runs the full table).

Requests are counterfactual edits of evaluation subjects (SHA-256 starting with c-f, all
five relations, ``core.demo_build.lifelong.evaluation_requests``; presets were tuned on
quality_dev, subjects 0-b). Teacher-forced figures after the last edit: retention = the
reliability of every edit but the newest step's, locality = agreement with the unedited
model on every edited fact's locality prompts.

Each bound is marked: ``TARGET`` is the issue's target, met at this scale; ``FLOOR`` is a
regression floor a little under what was measured where the issue's target is *not* met
(the issue's figure beside it).
"""

from __future__ import annotations

import pytest

from core.util.paths import demo_model_dir

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]

EDITS = 50
BATCH = 10
TARGET, FLOOR = "target", "floor"


def continual(method: str, batch_size: int) -> dict[str, float]:
    """Retention and locality after EDITS requests edited ``batch_size`` at a time; the model is
    restored exactly afterwards (asserted)."""
    from core.demo_build.lifelong import evaluation_requests
    from core.edit.deltas import apply_delta, revert_delta
    from core.facts.fact import fact_from_dict
    from core.methods import get_method
    from core.metrics.evaluation import capture_reference, evaluate
    from core.model.fingerprint import state_fingerprint
    from core.model.loading import LoadOptions, load_model

    lm = load_model(demo_model_dir(), LoadOptions(device="cpu"))
    facts = [fact_from_dict(r) for r in evaluation_requests(demo_model_dir(), EDITS, 2024)]
    edit, hp = get_method(method), get_method(method).preset(lm)
    before, reference = state_fingerprint(lm.model), capture_reference(lm, facts)
    receipts = []
    try:
        for start in range(0, len(facts), batch_size):
            receipts.append(apply_delta(lm.model, edit.compute(lm, facts[start:start + batch_size], hp)))
        report = evaluate(lm, facts, reference=reference, protocols=("teacher_forced",))
    finally:
        for receipt in reversed(receipts):
            revert_delta(lm.model, receipt)
    assert state_fingerprint(lm.model) == before
    reliability = [m.teacher_forced.reliability for m in report.facts]
    earlier = reliability[:-batch_size]
    return {"retention": sum(earlier) / len(earlier), "locality": report.summary()["locality"]}


# schedule -> metric -> (bound, kind, issue target, measured). At 50 edits in batches of 10 the
# figures move with float-level differences between machines, so the floors sit under every
# measurement on record, as guards against collapse (sequential ROME falls to 0.04 at this
# scale), not as claims. Measured (CPU, one thread): this machine, 2026-12-06, this file's
# requests with self-sampled statistics of seeds 0 / 1 / 3: AlphaEdit retention .738 / .742 /
# .742, locality .848 / .868 / .842; MEMIT retention .825 / .838 / .773, locality .851 / .825 /
# .829; requests of seed 7: AlphaEdit .804 / .853, MEMIT .783 / .803. CI's machine (stop 26):
# AlphaEdit retention .617 (its covariance sampled other text: 378 null-space directions of
# 1,024 where this machine finds 413). Earlier (2026-12-05): AlphaEdit .775 / .738, MEMIT
# retention .613 / .850. Neither target (retention ≥ 0.8, locality ≥ 0.9) is met on every run,
# and AlphaEdit is not above MEMIT on every run, so "above MEMIT" is not asserted.
BOUNDS: dict[tuple[str, int], dict[str, tuple[float, str, float, float]]] = {
    ("alphaedit", BATCH): {"retention": (0.55, FLOOR, 0.8, 0.617)},
    ("memit", BATCH): {"retention": (0.55, FLOOR, 0.8, 0.613), "locality": (0.75, FLOOR, 0.9, 0.803)},
}


@pytest.mark.parametrize("schedule", sorted(BOUNDS))
def test_consecutive_batches_floors(schedule, continual_figures):
    """Retention (and MEMIT's locality) after 50 edits in batches of 10 stay above their floors."""
    got = continual_figures(*schedule)
    for metric, (bound, kind, target, _) in BOUNDS[schedule].items():
        assert got[metric] >= bound, f"{metric} {got[metric]:.3f} < {bound} ({kind}; the issue wants {target})"
