"""bench/trace_layers.py runs end to end on a tiny setting (figures are not checked)."""

from __future__ import annotations

import json

import pytest

from tests.test_bench import run_bench

pytestmark = pytest.mark.slow


def test_trace_layers_table_and_json(tmp_path):
    data = tmp_path / "rows.json"
    out = run_bench("trace_layers.py", "--method", "grace", "--per-relation", "1", "--json", str(data),
                    cache=tmp_path / "cache")
    assert "| fixed preset |" in out and "| auto, per-relation cache |" in out
    rows = json.loads(data.read_text())
    assert set(rows) == {"fixed preset", "auto, traced per fact", "auto, per-relation cache",
                         "auto, traced per fact, MLP window 3"}
    assert all(len(row["layers"]) == 5 and 0.0 <= row["locality"] <= 1.0 for row in rows.values())
