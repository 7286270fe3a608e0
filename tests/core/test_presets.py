"""One presets table: every method asks it, one size cut-off, known models get published values."""

import inspect
from types import SimpleNamespace

import pytest

from core.methods import get_method, method_names
from core.methods.presets import PRESETS, SMALL_MODEL_PARAMETERS, layer_window, preset_kind, preset_values


def fake_lm(family: str, layers: int, parameters: float, hidden: int = 256):
    spec = SimpleNamespace(family=family, edit_layer_fraction=1 / 3)
    config = SimpleNamespace(num_hidden_layers=layers, n_layer=layers)
    return SimpleNamespace(spec=spec, info=SimpleNamespace(layers=layers, parameters=parameters, hidden_size=hidden),
                           model=SimpleNamespace(config=config))


@pytest.mark.parametrize("method", ["rome", "memit"])
def test_statistics_budget_scales_with_the_mlp_input_width(method):
    from core.methods.presets import STATS_TOKENS_CEILING, STATS_TOKENS_FLOOR, STATS_TOKENS_PER_INPUT

    demo = preset_values(method, fake_lm("gpt2", 6, 6e6, hidden=256))["stats_tokens"]
    gpt2_small = preset_values(method, fake_lm("gpt2", 12, 124e6, hidden=768))["stats_tokens"]
    # MEMIT's small preset keeps 20,000 tokens (batch locality needs them; presets.py)
    assert demo == (20_000 if method == "memit" else STATS_TOKENS_PER_INPUT * 4 * 256)
    assert gpt2_small == STATS_TOKENS_PER_INPUT * 4 * 768
    tiny = preset_values(method, fake_lm("gpt2", 4, 1e5, hidden=32))["stats_tokens"]
    assert tiny == (20_000 if method == "memit" else STATS_TOKENS_FLOOR)
    assert preset_values(method, fake_lm("gpt2", 48, 1.5e9, hidden=6400))["stats_tokens"] == STATS_TOKENS_CEILING


def test_every_registered_method_has_presets():
    assert set(PRESETS) == set(method_names())


@pytest.mark.parametrize("method", sorted(PRESETS))
def test_methods_ask_the_table(method, tiny_lm):
    lm = tiny_lm("gpt2")
    impl = get_method(method)
    assert impl.preset(lm) == impl.hparams_class(**preset_values(method, lm))
    source = inspect.getsource(inspect.getmodule(type(impl)))
    assert "info.parameters" not in source, f"{method} carries its own size cascade"


@pytest.mark.parametrize("method", sorted(PRESETS))
def test_one_cut_off_for_every_method(method):
    assert preset_kind(method, fake_lm("llama", 16, SMALL_MODEL_PARAMETERS - 1)) == "small"
    assert preset_kind(method, fake_lm("llama", 16, SMALL_MODEL_PARAMETERS)) == "reference"


def test_known_models_get_the_published_values():
    gpt2_xl = fake_lm("gpt2", 48, 1.5e9)
    assert preset_values("rome", gpt2_xl)["layer"] == 17
    assert preset_values("memit", gpt2_xl)["layers"] == (13, 14, 15, 16, 17)
    assert preset_values("ice", gpt2_xl)["layers"] == (13, 14, 15, 16, 17)  # MEMIT's layers (ICE §D.2)
    llama = preset_values("memit", fake_lm("llama", 32, 7e9))
    assert llama["layers"] == (4, 5, 6, 7, 8) and llama["clamp_norm_factor"] == 4.0


def test_other_models_scale_the_reference_windows_with_depth():
    assert preset_values("ft-l", fake_lm("gpt-j", 56, 1e10)) == {"layers": layer_window(56, (3 / 28, 8 / 28)),
                                                                 "norm_constraint": 5e-4}
    assert preset_values("grace", fake_lm("llama", 40, 1e10)) == {"layer": 29}  # round(0.75 * 40) - 1
    assert preset_values("rome", fake_lm("llama", 30, 1e10))["layer"] == 10  # a third of depth


def test_small_models_get_the_demo_tuned_values():
    small = fake_lm("gpt2", 6, 6e6)
    assert preset_values("rome", small)["layer"] == 0 and preset_values("rome", small)["insertion_aware"]
    assert preset_values("memit", small)["layers"] == (0, 1)
    assert preset_values("ft-m", small)["layers"] == (0,) and preset_values("ft-m", small)["retain_samples"] == 16
    assert preset_values("ft-m", small, "unconstrained")["layers"] == (0, 1, 2, 3)
    assert preset_values("grace", small)["layer"] == 3


def test_named_variants_are_offered_for_small_models_only():
    from core.methods.presets import preset_variants

    small, big = fake_lm("gpt2", 6, 6e6), fake_lm("gpt-j", 56, 1e10)
    assert preset_variants("ft-m", small) == ("unconstrained",) and preset_variants("ft-m", big) == ()
    assert preset_values("ice", small, "soft")["objective"] == "soft"
    with pytest.raises(ValueError, match="offered: unconstrained"):
        preset_values("ft-m", small, "gentle")
    with pytest.raises(ValueError, match="offered: none"):
        preset_values("ft-m", big, "unconstrained")


def test_training_budget_is_the_one_each_preset_was_chosen_with():
    from core.methods.presets import DEFAULT_TRAINING_STEPS, training_steps

    small, big = fake_lm("gpt2", 6, 6e6), fake_lm("gpt-j", 56, 1e10)
    assert training_steps("ke", small) == 1200  # KE's small preset, chosen at 1,200 steps on dev
    assert training_steps("ke", big) == DEFAULT_TRAINING_STEPS == 600
    assert training_steps("recipe", small) == 1500
    assert {training_steps(m, small) for m in ("mend", "instructedit")} == {DEFAULT_TRAINING_STEPS}


def test_train_options_without_steps_take_the_preset_budget_and_bad_ones_are_refused(tiny_lm):
    from core.methods.base import EditError
    from core.workflows.train import TrainOptions, default_training_steps, resolved_options

    lm = tiny_lm("gpt2")
    assert resolved_options(lm, "ke", TrainOptions()).steps == default_training_steps(lm, "ke") == 1200
    assert resolved_options(lm, "ke", TrainOptions(steps=7)).steps == 7
    for bad in (TrainOptions(steps=0), TrainOptions(save_every=0), TrainOptions(val_every=-1)):
        with pytest.raises(EditError, match="must be positive"):
            resolved_options(lm, "mend", bad)
    with pytest.raises(EditError, match="not a trained editor"):
        default_training_steps(lm, "rome")
