import json
import threading

import pytest
import torch

from core.edit.hooks import capture
from core.methods import stats
from core.methods.stats import StatsError, StatsSource, StatsSpec, covariance_status, layer_covariance
from core.model.tokens import encode, model_batch
from core.util.progress import Cancelled, Progress

pytestmark = pytest.mark.usefixtures("one_torch_thread", "empty_cache")  # they count what gets computed


TEXTS = [
    "The capital of France is Paris.",
    "Berlin is a city in Germany.",
    "The currency of Japan is the Yen.",
    "The Space Needle is in Seattle.",
]


def check_second_moment(cov, d_in):
    assert cov.shape == (d_in, d_in) and cov.dtype == torch.float32
    assert torch.allclose(cov, cov.T, atol=1e-6)
    assert torch.linalg.eigvalsh(cov.double()).min() > -1e-5


def test_txt_covariance_matches_the_keys_it_saw(tiny_lm, tmp_path):
    lm = tiny_lm("gpt2")
    source = tmp_path / "corpus.txt"
    source.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    spec = StatsSpec(layer=1, source=StatsSource(str(source)), budget_tokens=10_000)
    cov = layer_covariance(lm, spec)
    ids, mask = model_batch(lm, [encode(lm.tokenizer, t) for t in TEXTS])
    with torch.no_grad(), capture(lm.model, lm.spec.mlp_out_module(1)) as seen:
        lm.model(input_ids=ids, attention_mask=mask)
    keys = seen.input[mask.bool()].double()
    assert torch.allclose(cov.double(), keys.T @ keys / keys.shape[0], atol=1e-6)
    assert covariance_status(lm, spec).tokens == keys.shape[0]  # the source ran out before the budget


@pytest.mark.parametrize("family", ["gpt_neox", "llama"])
def test_jsonl_and_datasets_sources(tiny_lm, tmp_path, family):
    from datasets import Dataset

    lm = tiny_lm(family)
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_text("\n".join(json.dumps({"text": t, "id": i}) for i, t in enumerate(TEXTS)), encoding="utf-8")
    folder = tmp_path / "dataset"
    Dataset.from_dict({"text": TEXTS}).save_to_disk(str(folder))
    from_jsonl = layer_covariance(lm, StatsSpec(1, StatsSource(str(jsonl)), 10_000))
    from_folder = layer_covariance(lm, StatsSpec(1, StatsSource(str(folder)), 10_000))
    check_second_moment(from_jsonl, lm.model.config.intermediate_size)
    assert torch.allclose(from_jsonl, from_folder, atol=1e-6)


def test_self_sampled_is_seeded_and_cached(tiny_lm, monkeypatch):
    lm = tiny_lm("gptj")
    spec = StatsSpec(layer=2, source=StatsSource("", seed=3), budget_tokens=300)
    assert not covariance_status(lm, spec).cached
    first = layer_covariance(lm, spec)
    check_second_moment(first, 4 * lm.info.hidden_size)
    status = covariance_status(lm, spec)
    assert status.cached and status.tokens == 300

    def fail(*_args):
        raise AssertionError("recomputed despite the cache")

    monkeypatch.setattr(stats, "_accumulate", fail)
    assert torch.equal(layer_covariance(lm, spec), first)
    monkeypatch.undo()
    status.path.unlink()
    assert torch.equal(layer_covariance(lm, spec), first)  # same seed, same statistics


def test_cache_key_follows_the_source_file(tiny_lm, tmp_path):
    lm = tiny_lm("gpt2")
    source = tmp_path / "corpus.txt"
    source.write_text(TEXTS[0], encoding="utf-8")
    spec = StatsSpec(0, StatsSource(str(source)), 1000)
    layer_covariance(lm, spec)
    assert covariance_status(lm, spec).cached
    source.write_text("\n\n".join(TEXTS), encoding="utf-8")
    assert not covariance_status(lm, spec).cached


def test_cancel_during_stats_leaves_no_cache(tiny_lm):
    lm = tiny_lm("gpt2")
    spec = StatsSpec(layer=1, source=StatsSource("", seed=1), budget_tokens=20_000)
    stop = threading.Event()
    progress = Progress(lambda event: stop.set(), stop)  # cancel at the first report
    with pytest.raises(Cancelled):
        layer_covariance(lm, spec, progress)
    assert not covariance_status(lm, spec).cached
    assert not list(covariance_status(lm, spec).path.parent.glob("*.tmp"))


def test_bad_sources_are_reported(tiny_lm, tmp_path):
    lm = tiny_lm("gpt2")
    with pytest.raises(StatsError, match="does not exist"):
        layer_covariance(lm, StatsSpec(0, StatsSource(str(tmp_path / "missing.txt")), 100))
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"other": 1}\n', encoding="utf-8")
    with pytest.raises(StatsError, match="gave no text"):
        layer_covariance(lm, StatsSpec(0, StatsSource(str(empty)), 100))


# --- the self-sampled stream, stored once per model and seed (core.methods.stats_sampling) ---

@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    def use(name: str):
        monkeypatch.setenv("FACTSMITH_CACHE_DIR", str(tmp_path / name))
    use("cache-a")
    return use


def _sample(lm, budget, progress=None):
    from core.methods.stats_sampling import sampled
    from core.methods.stats_text import window
    from core.util.progress import silent

    return sampled(lm, 5, window(lm), budget, progress or silent())


def test_stored_stream_is_reused_by_other_layers(tiny_lm, fresh_cache, monkeypatch):
    from core.methods import stats_sampling

    lm = tiny_lm("gpt2")
    first = layer_covariance(lm, StatsSpec(1, StatsSource("", seed=5), 500))

    def fail(*_args, **_kwargs):
        raise AssertionError("sampled again despite the stored stream")

    monkeypatch.setattr(stats_sampling, "sample_batch", fail)
    other = layer_covariance(lm, StatsSpec(2, StatsSource("", seed=5), 500))  # not cached: a key pass only
    check_second_moment(other, 4 * lm.info.hidden_size)
    assert not torch.equal(first, other)


def test_larger_budget_extends_the_stream_as_a_fresh_run_would(tiny_lm, fresh_cache):
    from core.methods.stats_sampling import cached_tokens
    from core.methods.stats_text import window

    lm = tiny_lm("gpt2")
    small = _sample(lm, 300)
    stored = cached_tokens(lm, 5, window(lm))
    extended = _sample(lm, stored + 1)
    assert cached_tokens(lm, 5, window(lm)) > stored
    assert extended[: len(small)] == small  # the stored prefix is kept, not resampled
    fresh_cache("cache-b")
    assert _sample(lm, stored + 1) == extended


def test_damaged_stream_file_is_resampled(tiny_lm, fresh_cache):
    from core.methods.stats_sampling import stream_path
    from core.methods.stats_text import window

    lm = tiny_lm("gpt2")
    expected = _sample(lm, 300)
    path = stream_path(lm, 5, window(lm))
    path.write_bytes(path.read_bytes()[:100])  # cut short: no longer a safetensors file
    assert _sample(lm, 300) == expected
    assert _sample(lm, 300) == expected  # and stored whole again


def test_cancel_during_sampling_stores_no_stream(tiny_lm, fresh_cache):
    from core.methods.stats_sampling import stream_path
    from core.methods.stats_text import window

    lm = tiny_lm("gpt2")
    stop = threading.Event()
    seen = []

    def on_event(event):
        seen.append(event)
        if event.values.get("tokens"):  # cancel once the first batch is sampled, mid-stream
            stop.set()

    with pytest.raises(Cancelled):
        _sample(lm, 100_000, Progress(on_event, stop))
    assert any("tokens/s" in e.message or "left" in e.message for e in seen), [e.message for e in seen]
    path = stream_path(lm, 5, window(lm))
    assert not path.exists() and not list(path.parent.glob("*.tmp"))
