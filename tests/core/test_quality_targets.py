"""Issue 13's quality targets, asserted on the held-out test split with the default presets.

The split (``assets/demo-model/quality_test.jsonl``, ``python -m core.demo_build.quality_sets``)
holds subjects whose SHA-256 starts with c-f; presets were tuned on ``quality_dev.jsonl``
(0-b) only. Teacher-forced figures; ``bench/quality.py --split test`` prints the full
table, generation exact match and fluency included.

Each bound is marked: ``TARGET`` is the issue's target, met; ``FLOOR`` is a regression
floor a little under what was measured, where the target is *not* met (the figure the
issue wants is beside it, and the issue stays open for it).
"""

from __future__ import annotations

import json
import logging

import pytest

from core.util.paths import demo_model_dir

pytestmark = pytest.mark.slow
log = logging.getLogger(__name__)

TARGET, FLOOR = "target", "floor"

# (method, mode) -> metric -> (bound, kind, issue target, measured on the test split).
# Measured with `bench/quality.py --split test` (2026-12-02, CPU); "other:" = the requests
# whose target is of another kind (a city that is no capital, for a capital, …).
BOUNDS: dict[tuple[str, str], dict[str, tuple[float, str, float, float]]] = {
    ("ft-m", "independent"): {"reliability": (0.95, TARGET, 0.95, 1.000),
                              "locality": (0.90, TARGET, 0.90, 0.950)},
    ("ice", "independent"): {"reliability": (0.95, TARGET, 0.95, 1.000)},
    ("grace", "sequential"): {"locality": (0.95, TARGET, 0.95, 0.965),
                              "generality": (0.38, FLOOR, 0.70, 0.420)},
    ("rome", "independent"): {"reliability": (0.72, FLOOR, 0.95, 0.777),
                              "other:reliability": (0.50, FLOOR, 0.95, 0.554),
                              "generality": (0.38, FLOOR, 0.80, 0.432),
                              "locality": (0.88, FLOOR, 0.95, 0.929)},
    ("memit", "independent"): {"reliability": (0.72, FLOOR, 0.95, 0.767),
                               "other:reliability": (0.50, FLOOR, 0.95, 0.558),
                               "generality": (0.42, FLOOR, 0.80, 0.468),
                               "locality": (0.89, FLOOR, 0.95, 0.941)},
    ("memit", "batch"): {"reliability": (0.90, FLOOR, 0.95, 0.944),
                         "locality": (0.80, FLOOR, 0.90, 0.882)},  # without the batch's own prompts
    ("ft-l", "independent"): {"reliability": (0.65, FLOOR, 0.95, 0.706),
                              "locality": (0.65, FLOOR, 0.90, 0.700)},
}


def _test_split():
    from core.facts.fact import fact_from_dict

    rows = [json.loads(line) for line in (demo_model_dir() / "quality_test.jsonl").read_text().splitlines()]
    facts = [fact_from_dict(row) for row in rows]
    return facts, {f.id: (row["target_kind"], row["relation"]) for f, row in zip(facts, rows, strict=True)}


@pytest.fixture(scope="module")
def figures(demo_lm):
    """figures(method, mode) -> QualityFigures, each measured once per module."""
    from core.model.fingerprint import state_fingerprint
    from core.workflows.quality import measure_quality

    facts, groups = _test_split()
    measured: dict[tuple[str, str], object] = {}

    def get(spec: str, mode: str = "independent"):
        """``spec``: a method name, or METHOD@VARIANT for a named preset variant."""
        from core.methods import preset_variant

        method, _, variant = spec.partition("@")
        if (spec, mode) not in measured:
            before = state_fingerprint(demo_lm.model)
            hparams = preset_variant(demo_lm, method, variant or None)
            measured[spec, mode] = measure_quality(demo_lm, facts, method, mode, groups, hparams=hparams)
            assert state_fingerprint(demo_lm.model) == before
            log.warning("%s %s on the test split: %s", spec, mode, measured[spec, mode].to_dict())
        return measured[spec, mode]

    return get


def _value(result, metric: str) -> float:
    group, _, name = metric.rpartition(":")
    return (result.by_group[group] if group else result.overall)[name]


@pytest.mark.parametrize("case", sorted(BOUNDS), ids=lambda c: f"{c[0]}-{c[1]}")
def test_bounds_hold_on_the_test_split(case, figures):
    result = figures(*case)
    failures = []
    for metric, (bound, kind, target, measured) in BOUNDS[case].items():
        value = _value(result, metric)
        if value < bound:
            failures.append(f"{metric} {value:.3f} < {bound} ({kind}; issue target {target}, measured {measured})")
    assert not failures, failures


def test_ice_keeps_more_than_ft_m_and_writes_better_continuations(figures):
    """The seed's claim (ICE §4): against FT-M, the baseline it reports, i.e. plain
    fine-tuning without a retain set (our ``ft-m@unconstrained``): locality at least
    0.05 higher and a lower PPL_r (median: a few runaway ratios dominate the mean).
    Measured: ICE 0.865 vs 0.149 locality, PPL_r median 0.056 vs 0.128. This is the
    weakest of the comparisons: against the constrained FT-M default (locality 0.950,
    PPL_r median 0.040) or EasyEdit's FT-M settings (block 0, lr 1e-3, 50 steps: dev
    locality 0.725, PPL_r median 0.037) the PPL_r claim does not hold on the demo model,
    and our ICE has a retain set the paper's has not; the closing note says so."""
    ice, ft_m = figures("ice"), figures("ft-m@unconstrained")
    assert ice.overall["reliability"] >= 0.95
    assert ice.overall["locality"] >= ft_m.overall["locality"] + 0.05, (ice.overall, ft_m.overall)
    assert ice.overall["ppl_r_median"] < ft_m.overall["ppl_r_median"], (ice.overall, ft_m.overall)
