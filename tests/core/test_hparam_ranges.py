"""A hyperparameter no edit can mean is refused with its name, before any work (trial 47:
v_steps=99999999999999999999999 was taken and the preview ran with no end in sight)."""

import pytest

from core.methods.hparams import MAX_STEPS, HParamError, with_overrides
from core.methods.rome import ROMEHParams


@pytest.mark.parametrize(("key", "value", "said"), [
    ("v_steps", "99999999999999999999999", r"v_steps=99999999999999999999999: too many steps \(at most 100,000"),
    ("v_steps", MAX_STEPS + 1, r"v_steps=100001: too many steps"),
    ("seed", "99999999999999999999999", r"seed=99999999999999999999999: too large"),
    ("seed", str(2**32), r"seed=4294967296: too large \(at most 4,294,967,295\)"),
    ("essence_samples", "20000", r"essence_samples=20000: too many texts to sample"),
    ("v_lr", "inf", r"v_lr=inf: must be a finite number"),
    ("v_lr", float("nan"), r"v_lr=nan: must be a finite number"),
])
def test_an_impossible_value_is_refused_by_name(key, value, said):
    with pytest.raises(HParamError, match=said):
        with_overrides(ROMEHParams(), {key: value})


def test_values_in_range_are_taken():
    hp = with_overrides(ROMEHParams(), {"v_steps": str(MAX_STEPS), "seed": "4294967295", "v_lr": "0.5"})
    assert (hp.v_steps, hp.seed, hp.v_lr) == (MAX_STEPS, 4294967295, 0.5)
