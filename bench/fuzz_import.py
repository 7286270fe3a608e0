"""Fuzz the facts reader at scale: mutations of valid files in every format and container.

    .venv/bin/python bench/fuzz_import.py [--cases 10000] [--seed 0] [--show 20]

Each case is a valid facts file with one mutation (truncation, bit flip, lone surrogate,
control or invisible characters, blank values, wrong types, deep nesting, duplicate keys,
mixed formats, short or long CSV rows, stray quotes, harmless reformatting). Prints how many
ended in a traceback, were accepted but wrong, were refused cleanly, or read correctly; the
same cases as tests/core/test_import_fuzz.py, more of them. Exits 1 if any traceback or
wrong outcome was found.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10000, help="number of fuzzed files")
    parser.add_argument("--seed", type=int, default=0, help="random seed (the same seed, the same cases)")
    parser.add_argument("--show", type=int, default=20, help="tracebacks and wrong outcomes to print")
    return parser.parse_args()


def main() -> int:
    from tests.core.fuzz_facts import run

    args = parse_args()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="factsmith-fuzz-") as folder:
        counts, bad = run(args.cases, args.seed, Path(folder))
    print(f"{args.cases} cases, seed {args.seed}, {time.perf_counter() - start:.1f} s")
    for outcome, label in (("traceback", "tracebacks"), ("wrong", "accepted but wrong"),
                           ("refused", "clean refusals"), ("read", "clean reads")):
        print(f"  {label:<20} {counts[outcome]}")
    for name, outcome, detail in bad[: args.show]:
        print(f"{outcome}: {name}: {detail}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
