"""Shared fixtures: tiny random models of each family, built from configs, and the demo model."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

FAMILIES = ("gpt2", "gptj", "gpt_neox", "llama")

_SENTENCES = [
    "The capital of France is Paris.",
    "The Eiffel Tower is located in Paris.",
    "Danielle Darrieux's mother tongue is French.",
    "The Space Needle is in Seattle.",
    "Toko Yasuda plays the guitar.",
    "The official language of Germany is German.",
    "Berlin is a city in Germany.",
    "The currency of Japan is the Yen.",
]


def tiny_config(family: str, vocab_size: int):
    from transformers import GPT2Config, GPTJConfig, GPTNeoXConfig, LlamaConfig

    common = dict(vocab_size=vocab_size, bos_token_id=0, eos_token_id=0, pad_token_id=0)
    if family == "gpt2":
        return GPT2Config(n_layer=4, n_embd=32, n_head=4, n_positions=64, **common)
    if family == "gptj":
        return GPTJConfig(n_layer=4, n_embd=32, n_head=4, n_positions=64, rotary_dim=4, **common)
    if family == "gpt_neox":
        return GPTNeoXConfig(num_hidden_layers=4, hidden_size=32, num_attention_heads=4,
                             intermediate_size=64, max_position_embeddings=64, **common)
    return LlamaConfig(num_hidden_layers=4, hidden_size=32, num_attention_heads=4, num_key_value_heads=2,
                       intermediate_size=64, max_position_embeddings=64, **common)


@pytest.fixture(scope="session")
def tiny_tokenizer():
    from core.demo_build.train import train_tokenizer

    return train_tokenizer(_SENTENCES * 4, vocab_size=400)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_tokenizer):
    """tiny_model_dir(family) -> a saved Hugging Face folder with random weights."""
    import torch
    from transformers import AutoModelForCausalLM

    made: dict[str, object] = {}

    def make(family: str):
        if family not in made:
            torch.manual_seed(0)
            model = AutoModelForCausalLM.from_config(tiny_config(family, len(tiny_tokenizer)))
            folder = tmp_path_factory.mktemp(f"tiny-{family}")
            model.save_pretrained(folder, safe_serialization=True)
            tiny_tokenizer.save_pretrained(folder)
            made[family] = folder
        return made[family]

    return make


@pytest.fixture
def tiny_lm(tiny_model_dir):
    """tiny_lm(family) -> a freshly loaded LoadedModel on CPU."""
    from core.model.loading import LoadOptions, load_model

    def load(family: str):
        return load_model(tiny_model_dir(family), LoadOptions(device="cpu"))

    return load


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("FACTSMITH_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
    # workspaces, tuned presets and logs of one test never meet another's (tests run in
    # parallel workers) nor the developer's own
    monkeypatch.setenv("FACTSMITH_DATA_DIR", str(tmp_path_factory.mktemp("user-data")))
    # no test reads the developer's own author keys or trusted keys
    monkeypatch.setenv("FACTSMITH_CONFIG_DIR", str(tmp_path_factory.getbasetemp() / "config"))


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    """A cache of this test's own: the shared one holds whatever the tests a worker ran before
    this one computed, in an order that differs from run to run."""
    monkeypatch.setenv("FACTSMITH_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="session")
def demo_lm():
    """The bundled demo model, loaded once per session; tests must leave it unchanged."""
    from core.model.loading import LoadOptions, load_model
    from core.util.paths import demo_model_dir

    if not (demo_model_dir() / "model.safetensors").exists():
        pytest.fail("the demo model is missing: build it with `python -m core.demo_build`")
    return load_model(demo_model_dir(), LoadOptions(device="cpu"))


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models gain nothing from threads, and oversubscribed cores make them crawl."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
