"""``layer: auto`` (core.workflows.auto_layer): each method's layer field from the trace, and the cache."""

from __future__ import annotations

import dataclasses

import pytest

from core.facts.fact import Fact
from core.methods import get_method
from core.metrics.tracing import TraceOptions, trace_fact
from core.workflows.auto_layer import (
    MIN_EFFECT,
    TraceCache,
    auto_layer_hparams,
    auto_requested,
    layers_for,
    relation_key,
    strip_auto,
)

FRANCE = Fact.create(subject="France", prompt="The capital of France is", target_new="Seattle")
GERMANY = Fact.create(subject="Germany", prompt="The capital of Germany is", target_new="Paris")
BERLIN = Fact.create(subject="Berlin", prompt="Berlin is a city in", target_new="Japan", relation="city_country")
MLP = TraceOptions(kinds=("mlp",))
ANY = float("-inf")  # tiny random models know nothing: accept any trace as informative


def test_layers_for_each_method():
    assert layers_for("rome", 4, 6) == (4,)
    assert layers_for("FT-M", 2, 6, width=3) == (2,)
    assert layers_for("memit", 3, 6, width=2) == (2, 3)  # a window ending at the traced layer
    assert layers_for("memit", 0, 6, width=3) == (0, 1, 2)  # shifted to fit the model
    assert layers_for("memit", 5, 4, width=9) == (0, 1, 2, 3)
    with pytest.raises(ValueError, match="not available for 'ice'"):
        layers_for("ice", 1, 6)


def test_relation_key_and_overrides():
    assert relation_key(FRANCE) == relation_key(GERMANY) == "The capital of {} is"
    assert relation_key(BERLIN) == "city_country"
    assert auto_requested({"layer": "auto"}) and auto_requested({"layers": " AUTO "})
    assert not auto_requested({"layer": "3", "lr": "auto"})
    assert strip_auto({"layers": "auto", "lr": "0.1"}) == {"lr": "0.1"}
    assert strip_auto({"layer": "2"}) == {"layer": "2"}


@pytest.mark.parametrize("method", ["rome", "grace", "ft-l", "ft-m", "memit"])
def test_auto_sets_the_traced_layer(tiny_lm, method, one_torch_thread):
    lm = tiny_lm("gpt2")
    preset = get_method(method).preset(lm)
    traced = trace_fact(lm, FRANCE, MLP).chosen_layer
    hp, choice = auto_layer_hparams(lm, method, preset, [FRANCE], min_effect=ANY)
    assert choice.traced == (traced,) and choice.layer == traced and choice.sources == ("trace",)
    field = "layer" if method in ("rome", "grace") else "layers"
    value = getattr(hp, field)
    if field == "layer":
        assert value == traced
    elif method == "memit":
        width = len(preset.layers or get_method("memit").preset(lm).layers)
        assert value == layers_for("memit", traced, lm.info.layers, width) and len(value) == width
        assert traced in value
    else:
        assert value == (traced,)
    others = {f.name for f in dataclasses.fields(hp)} - {field}
    assert all(getattr(hp, name) == getattr(preset, name) for name in others)


def test_the_cache_traces_a_relation_once_per_model(tiny_lm, one_torch_thread):
    lm = tiny_lm("llama")
    cache = TraceCache()
    preset = get_method("rome").preset(lm)
    _, first = auto_layer_hparams(lm, "rome", preset, [FRANCE, GERMANY, BERLIN], cache, min_effect=ANY)
    assert first.sources == ("trace", "cache", "trace") and len(cache) == 2
    assert first.traced[1] == first.traced[0]  # Germany reuses France's relation trace
    assert first.traced[2] == trace_fact(lm, BERLIN, MLP).chosen_layer
    _, again = auto_layer_hparams(lm, "rome", preset, [GERMANY], cache, min_effect=ANY)
    assert again.sources == ("cache",) and again.traced == first.traced[:1]
    cache.put("another-model", relation_key(GERMANY), 3)
    assert cache.get(lm.info.fingerprint, relation_key(GERMANY)) == first.traced[0]


def test_a_batch_shares_the_most_common_traced_layer(tiny_lm, one_torch_thread):
    lm = tiny_lm("gpt2")
    cache = TraceCache()
    cache.put(lm.info.fingerprint, "a", 3)
    cache.put(lm.info.fingerprint, "b", 1)
    facts = [Fact.create(**{**FRANCE.to_dict(), "relation": r}) for r in ("a", "b", "b")]
    hp, choice = auto_layer_hparams(lm, "grace", get_method("grace").preset(lm), facts, cache)
    assert choice.traced == (3, 1, 1) and choice.layer == 1 and hp.layer == 1
    with pytest.raises(ValueError, match="at least one fact"):
        auto_layer_hparams(lm, "grace", hp, [], cache)


def test_an_uninformative_trace_keeps_the_preset_and_is_not_cached(tiny_lm, one_torch_thread):
    lm = tiny_lm("gpt2")
    result = trace_fact(lm, FRANCE, MLP)
    assert result.chosen_effect < MIN_EFFECT  # a random model does not recall the capital of France
    cache, preset = TraceCache(), get_method("memit").preset(lm)
    hp, choice = auto_layer_hparams(lm, "memit", preset, [FRANCE, GERMANY], cache)
    assert hp == preset and choice.layer is None and choice.hparams_layers == ()
    assert choice.traced == (None, None) and choice.sources == ("uninformative", "uninformative")
    assert len(cache) == 0


def test_demo_model_traces_to_the_layer_its_rome_preset_edits(demo_lm, one_torch_thread):
    """Measured (bench/trace_layers.py): on 20 dev facts every informative trace picks
    layer 0, the layer the small ROME preset was tuned to; here on two of them."""
    from core.facts.io import read_facts
    from core.util.paths import demo_model_dir

    facts = read_facts(demo_model_dir() / "dev_edits.jsonl")[:2]
    preset = get_method("rome").preset(demo_lm)
    hp, choice = auto_layer_hparams(demo_lm, "rome", dataclasses.replace(preset, layer=3), facts)
    assert choice.sources == ("trace", "trace") and choice.traced == (0, 0)
    assert hp.layer == 0 == preset.layer
