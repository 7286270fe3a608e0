"""Train the demo model's tokenizer and a small GPT-2 on the knowledge corpus."""

from __future__ import annotations

import logging
import math
import random
import time
from dataclasses import dataclass

from core.demo_build.knowledge import KnowledgeFact

log = logging.getLogger(__name__)

EOS = "<|endoftext|>"


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 1234
    vocab_size: int = 4096
    n_layer: int = 6
    n_embd: int = 256
    n_head: int = 8
    n_positions: int = 64
    epochs: int = 40
    batch_size: int = 64
    lr: float = 1.5e-3
    warmup_steps: int = 200
    weight_decay: float = 0.01
    dropout: float = 0.0
    threads: int = 2


def sentence(prompt: str, obj: str) -> str:
    return f"{prompt} {obj}."


def training_sentences(facts: list[KnowledgeFact]) -> list[str]:
    return [sentence(p, f.object) for f in facts for p in f.trained]


def train_tokenizer(texts: list[str], vocab_size: int):
    """Byte-level BPE like GPT-2's, so ' ' + word tokenises the GPT-2 way."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=EOS,
        eos_token=EOS,
        unk_token=EOS,
        pad_token=EOS,
        model_max_length=64,
    )


def build_model(cfg: TrainConfig, tokenizer):
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=cfg.n_positions,
        n_embd=cfg.n_embd,
        n_layer=cfg.n_layer,
        n_head=cfg.n_head,
        resid_pdrop=cfg.dropout,
        embd_pdrop=cfg.dropout,
        attn_pdrop=cfg.dropout,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.eos_token_id,
    )
    return GPT2LMHeadModel(config)


def _batches(encoded: list[list[int]], batch_size: int, rng: random.Random):
    """Length-bucketed shuffled batches: little padding, random order."""
    order = sorted(range(len(encoded)), key=lambda i: (len(encoded[i]), rng.random()))
    chunks = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(chunks)
    return chunks


def _collate(encoded: list[list[int]], idx: list[int], pad_id: int):
    import torch

    width = max(len(encoded[i]) for i in idx)
    ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(idx), width), dtype=torch.long)
    for row, i in enumerate(idx):
        ids[row, : len(encoded[i])] = torch.tensor(encoded[i])
        mask[row, : len(encoded[i])] = 1
    labels = ids.masked_fill(mask == 0, -100)
    return ids, mask, labels


def _lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps)
    return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


def train_model(model, tokenizer, texts: list[str], cfg: TrainConfig, on_epoch=None) -> float:
    """Train in place; returns wall seconds. on_epoch(epoch, loss) may log checkpoints."""
    import torch

    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    encoded = [tokenizer(t)["input_ids"] + [tokenizer.eos_token_id] for t in texts]
    steps_per_epoch = math.ceil(len(encoded) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.98))
    model.train()
    start, step = time.perf_counter(), 0
    for epoch in range(cfg.epochs):
        running = 0.0
        for idx in _batches(encoded, cfg.batch_size, rng):
            ids, mask, labels = _collate(encoded, idx, tokenizer.pad_token_id)
            for group in opt.param_groups:
                group["lr"] = _lr_at(step, total, cfg)
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            running += loss.item()
            step += 1
        mean_loss = running / steps_per_epoch
        log.info("epoch %d/%d loss %.4f (%.0fs)", epoch + 1, cfg.epochs, mean_loss, time.perf_counter() - start)
        if on_epoch is not None:
            on_epoch(epoch + 1, mean_loss)
    model.eval()
    return time.perf_counter() - start
