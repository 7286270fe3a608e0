import dataclasses

import pytest

from core.methods import get_method
from core.workflows.stats_plan import compute_statistics, needed_statistics

pytestmark = pytest.mark.usefixtures("empty_cache")  # these tests count what gets computed


def test_rome_needs_its_layer_statistics_and_ft_needs_none(tiny_lm):
    lm = tiny_lm("gpt2")
    hp = dataclasses.replace(get_method("rome").preset(lm), stats_tokens=256)
    needs = needed_statistics(lm, "rome", hp)
    assert len(needs) == 1 and not needs[0].status.cached
    assert needs[0].spec.layer == hp.layer
    assert compute_statistics(lm, [n.spec for n in needs]) == 1
    assert needed_statistics(lm, "rome", hp)[0].status.cached
    assert compute_statistics(lm, [n.spec for n in needs]) == 0
    assert needed_statistics(lm, "ft-m", get_method("ft-m").preset(lm)) == []
    assert needed_statistics(lm, "rome", dataclasses.replace(hp, use_covariance=False)) == []


def test_memit_needs_one_covariance_per_layer_computed_in_one_pass(tiny_lm):
    lm = tiny_lm("gpt2")
    hp = dataclasses.replace(get_method("memit").preset(lm), stats_tokens=256)
    needs = needed_statistics(lm, "memit", hp)
    assert [n.spec.layer for n in needs] == sorted(set(hp.layers)) and len(needs) >= 2
    missing = [n for n in needs if not n.status.cached]  # another test may have cached one layer
    assert missing and compute_statistics(lm, [n.spec for n in needs]) == len(missing)
    assert all(n.status.cached for n in needed_statistics(lm, "memit", hp))
    assert needed_statistics(lm, "memit", dataclasses.replace(hp, mom2_weight=0)) == []
