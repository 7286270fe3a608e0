import pytest

from tests.conftest import FAMILIES


@pytest.mark.parametrize("family", FAMILIES)
def test_tiny_models_load_with_spec(tiny_lm, family):
    lm = tiny_lm(family)
    assert lm.info.layers == 4
    assert lm.info.device == "cpu"
    assert len(lm.info.fingerprint) == 64
