"""SIGKILL trials against the `factsmith` CLI: 200 by default (40 each of import, review,
commit, revert and checkout --out, on a workspace over a tiny random GPT-2), then a clean
checkout that must remove the staging folders killed checkouts left. Prints a table of
outcomes; any violation (a workspace failing quick_check or `workspace check`, a lost or
rewritten commit, half an import, commit or checkout folder, a traceback) stops the run
with its trial named.

    .venv/bin/python bench/crash_trials.py [--trials 200] [--seed 0]

The same harness runs 30 trials in CI (tests/core/ledger/test_crash_kill.py).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("OMP_NUM_THREADS", "1")


def tiny_model(folder: Path) -> Path:
    """The tests' tiny GPT-2 (4 layers, width 32) with a tokenizer trained on a few sentences."""
    import torch
    from transformers import AutoModelForCausalLM

    from core.demo_build.train import train_tokenizer
    from tests.conftest import _SENTENCES, tiny_config

    tokenizer = train_tokenizer(_SENTENCES * 4, vocab_size=400)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(tiny_config("gpt2", len(tokenizer)))
    out = folder / "tiny-gpt2"
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


def main() -> None:
    from tests.core.ledger.crash_harness import OPS, run_trials, table

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=200, help="killed or timed trials, spread over the operations")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="factsmith-crash-") as tmp:
        os.environ["FACTSMITH_CACHE_DIR"] = str(Path(tmp) / "cache")
        model = tiny_model(Path(tmp))
        lab = Path(tmp) / "lab"
        lab.mkdir()
        started = time.monotonic()
        trials = run_trials(lab, model, per_op=max(1, args.trials // len(OPS)), seed=args.seed)
    killed = sum(t.killed for t in trials)
    print(f"{len(trials)} trials ({killed} killed by SIGKILL) in {time.monotonic() - started:.0f} s, seed {args.seed}; "
          "after each: quick_check and `workspace check` pass, no commit lost, no half import/commit/folder\n")
    print(table(trials))


if __name__ == "__main__":
    main()
