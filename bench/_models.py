"""Models the benches build for themselves (nothing is downloaded)."""

from __future__ import annotations

from pathlib import Path


def random_gpt2_124m(folder: Path) -> Path:
    """GPT-2 small's shape (124M parameters) with random weights and the demo tokenizer."""
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    from core.util.paths import demo_model_dir

    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config()).save_pretrained(folder, safe_serialization=True)
    AutoTokenizer.from_pretrained(demo_model_dir()).save_pretrained(folder)
    return folder
