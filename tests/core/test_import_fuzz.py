"""The fuzz campaign as a test: seeded mutations of valid files in every format and container,
each either read correctly or refused with a FactsFileError naming the row (tests/core/fuzz_facts.py).
``bench/fuzz_import.py --cases 10000`` runs the same cases at scale."""

from __future__ import annotations

from collections import Counter

from tests.core.fuzz_facts import CONTAINERS, CSV_MUTATIONS, JSON_MUTATIONS, cases, judge, samples

CASES = 800


def test_fuzzed_files_are_read_correctly_or_refused_cleanly(tmp_path):
    found = cases(CASES, seed=15, folder=tmp_path)
    kinds = Counter(case.name.rsplit("-", 1)[1] for case in found)
    assert set(kinds) >= {*JSON_MUTATIONS, *CSV_MUTATIONS, "mixed", "truncate"}
    assert {case.suffix for case in found} == set(CONTAINERS)
    assert {case.name.split("-")[1] for case in found} == set(samples())
    outcomes = Counter()
    bad = []
    for case in found:
        outcome, detail = judge(case, tmp_path)
        outcomes[outcome] += 1
        if outcome in ("traceback", "wrong"):
            bad.append(f"{case.name}: {outcome}: {detail}")
    assert not bad, "\n".join(bad[:20])
    assert outcomes["refused"] > CASES // 2 and outcomes["read"] > CASES // 20
