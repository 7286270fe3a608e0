"""The benchmark scripts run end to end on tiny settings, so they cannot rot unnoticed.

Figures are not checked here (speed is never asserted in tests); only that each script
finishes, prints its table with numbers in it, and writes what it says it writes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def bench_process(script: str, *args: str, cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "FACTSMITH_CACHE_DIR": str(cache),
           "FACTSMITH_BENCH_RESULTS": str(cache.parent / "results")}
    return subprocess.run([sys.executable, str(ROOT / "bench" / script), *args], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=900)


def run_bench(script: str, *args: str, cache: Path) -> str:
    done = bench_process(script, *args, cache=cache)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_continual_table_chart_and_json(tmp_path):
    chart, data = tmp_path / "chart.png", tmp_path / "run.json"
    out = run_bench("continual.py", "--methods", "grace", "--edits", "3", "--every", "2", "--fluency-facts", "2",
                    "--out", str(chart), "--json", str(data), cache=tmp_path / "cache")
    assert "| grace | 1 | 0 |" in out and "| grace | 1 | 2 |" in out and "| grace | 1 | 3 |" in out
    assert "restored exactly: True" in out
    assert chart.read_bytes().startswith(b"\x89PNG")
    rows = json.loads(data.read_text())["results"]["grace"]["rows"]
    assert [r["edits"] for r in rows] == [0, 2, 3]
    assert all(0.0 <= r["locality"] <= 1.0 for r in rows[1:])

    merged_chart = tmp_path / "merged.png"
    again = run_bench("continual.py", "--merge", str(data), "--out", str(merged_chart), cache=tmp_path / "cache")
    assert "| grace | 1 | 3 |" in again and merged_chart.read_bytes().startswith(b"\x89PNG")


def test_continual_merge_refuses_a_method_twice(tmp_path):
    data = tmp_path / "run.json"
    data.write_text(json.dumps({"results": {"grace": {"rows": []}}}))
    done = bench_process("continual.py", "--merge", str(data), str(data), cache=tmp_path / "cache")
    assert done.returncode != 0 and "'grace' is already in an earlier file" in done.stderr


def test_edit_latency_rows_have_figures(tmp_path):
    out = run_bench("edit_latency.py", "--models", "demo", "--methods", "ft-m,grace", "--edits", "1",
                    cache=tmp_path / "cache")
    rows = [line.split() for line in out.splitlines()[1:]]
    assert [r[:2] for r in rows] == [["demo", "ft-m"], ["demo", "grace"]]
    assert all(float(r[2]) > 0 and float(r[3]) > 0 for r in rows), out


def test_edit_latency_times_statistics_at_the_given_budget(tmp_path):
    out = run_bench("edit_latency.py", "--models", "demo", "--methods", "rome", "--edits", "1",
                    "--stats-tokens", "500", cache=tmp_path / "cache")
    stats, rome = out.splitlines()[1:]
    assert stats.split()[:2] == ["demo", "rome"] and "500 tokens" in stats
    assert rome.split()[:2] == ["demo", "rome"] and float(rome.split()[2]) > 0


def test_stats_budget_table(tmp_path):
    out = run_bench("stats_budget.py", "--budgets", "0", "--facts", "1", "--device", "cpu", cache=tmp_path / "cache")
    saved = json.loads(next((tmp_path / "results").glob("stats_budget-*.json")).read_text())
    assert saved["device"] == "cpu" and saved["machine"]["cores"] >= 1 and len(saved["commit"]) == 40
    assert saved["peak_gpu_mib"] is None and saved["figures"]["rows"][0]["budget"] == 0
    row = next(line for line in out.splitlines() if line.startswith("| none"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert all(0.0 <= float(c) <= 1.0 for c in cells[3:]), row


def test_log_scale_with_synthetic_deltas(tmp_path):
    out = run_bench("log_scale.py", "--method", "synthetic", "--edits", "4", "--per-commit", "2",
                    "--keep", str(tmp_path / "workspace"), cache=tmp_path / "cache")
    table = dict(line.strip("|").split("|", 1) for line in out.splitlines() if line.startswith("| "))
    table = {key.strip(): value.strip() for key, value in table.items()}
    assert table["edits committed"].startswith("4 synthetic (2 per commit, 2 commits)")
    assert "replays 4 deltas" in table["check out HEAD"]
    assert "rebuilds with 3 deltas" in table["revert one edit from the middle"]
    assert "its fact and HEAD's 3" in table["one more commit, measured together"]
    assert (tmp_path / "workspace").is_dir()


def test_workspace_check_table(tmp_path):
    out = run_bench("workspace_check.py", "--commits", "3", "--repeat", "1", cache=tmp_path / "cache")
    row = next(line for line in out.splitlines() if line.startswith("| 3 |"))
    assert len([cell for cell in row.split("|") if cell.strip()]) == 7


def test_crash_trials_table(tmp_path):
    out = run_bench("crash_trials.py", "--trials", "5", "--seed", "1", cache=tmp_path / "cache")
    assert "| import | 1 |" in out and "| checkout | 2 |" in out and "violations" in out


def test_quality_table_and_json(tmp_path):
    data = tmp_path / "quality.json"
    out = run_bench("quality.py", "--split", "dev", "--limit", "2", "--methods", "grace:sequential,ft-m@unconstrained",
                    "--set", "ft-m.steps=3", "--json", str(data), cache=tmp_path / "cache")
    assert "| grace (sequential) |" in out and "| ft-m@unconstrained (independent) |" in out
    rows = json.loads(data.read_text())
    assert [r["spec"] for r in rows] == ["grace:sequential", "ft-m@unconstrained"]
    assert rows[1]["hparams"]["steps"] == 3 and rows[1]["hparams"]["layers"] == [0, 1, 2, 3]
    assert all(0.0 <= r["overall"]["reliability"] <= 1.0 for r in rows)
    assert set(rows[0]["by_group"]) == {"capital", "same", "other"}


def test_gui_latency_reports_every_phase(tmp_path):
    out = run_bench("gui_latency.py", "--method", "grace", cache=tmp_path / "cache")
    for phase in ("load", "preview", "commit", "checkout"):
        assert f"| {phase} |" in out, out
    assert "worst gap:" in out and "window built and shown in" in out
    saved = json.loads(next((tmp_path / "results").glob("gui_latency-*.json")).read_text())
    assert set(saved["figures"]["phases"]) >= {"load", "preview", "checkout"} and saved["figures"]["worst_ms"] > 0
    assert saved["figures"]["phases"]["checkout"]["ticks"] > 1, "the checkout ran (confirmed), it was measured"


def test_trained_editors_table_curves_and_json(tmp_path):
    data, plots = tmp_path / "run.json", tmp_path / "plots"
    out = run_bench("trained_editors.py", "--methods", "ke", "--steps", "2", "--limit", "8", "--plot", str(plots),
                    "--json", str(data), "--split", "dev", cache=tmp_path / "cache")
    assert "| ke | 2 (2) |" in out and (plots / "trained-ke.png").read_bytes().startswith(b"\x89PNG")
    (run,) = json.loads(data.read_text())
    assert run["requests"] == 8 and run["peak_mb"] > 0 and set(run["figures"]["all"]) == {
        "reliability", "generality", "locality"}
    saved = json.loads(next((tmp_path / "results").glob("trained_editors-*.json")).read_text())
    assert saved["figures"]["split"] == "dev"  # measured on quality_dev, the tuning split


def test_device_paths_checks_state_on_the_cpu(tmp_path):
    out = run_bench("device_paths.py", "--device", "cpu", "--methods", "grace,ft-l", "--facts", "1",
                    cache=tmp_path / "cache")
    rows = [line for line in out.splitlines() if line.startswith("| grace") or line.startswith("| ft-l")]
    assert len(rows) == 2 and all(row.rstrip().endswith("| exact |") for row in rows)
    assert json.loads(next((tmp_path / "results").glob("device_paths-*.json")).read_text())["figures"][0]["device"]


def test_device_paths_fails_when_a_method_errors(tmp_path):
    done = bench_process("device_paths.py", "--device", "cpu", "--methods", "no-such-method", "--facts", "1",
                         cache=tmp_path / "cache")
    assert done.returncode == 1 and "| no-such-method |" in done.stdout and "ERROR" in done.stdout


def test_grace_keys_ceiling_table(tmp_path):
    out = run_bench("grace_keys.py", "--splits", "dev", "--layers", "3", "--device", "cpu", cache=tmp_path / "cache")
    rows = [line for line in out.splitlines() if line.startswith("| dev | 3 |")]
    assert [row.split("|")[3].strip() for row in rows] == ["euclidean", "cosine"], out
    saved = json.loads(next((tmp_path / "results").glob("grace_keys-*.json")).read_text())["figures"]
    for row in saved:
        assert 0.0 <= row["retrieval"] <= 1.0 and row["locality"] >= 0.95, row


def test_two_bench_runs_in_one_second_keep_both_results(tmp_path, monkeypatch):
    """Two benches ending in the same second wrote one file name: the second run's figures
    replaced the first's."""
    import datetime

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    import _results

    moment = datetime.datetime(2026, 12, 7, 13, 26, 43, tzinfo=datetime.UTC)
    monkeypatch.setattr(_results._dt, "datetime", type("Frozen", (), {"now": staticmethod(lambda tz=None: moment)}))
    first = _results.record("trained_editors", {"run": 1}, "cpu", folder=tmp_path)
    second = _results.record("trained_editors", {"run": 2}, "cpu", folder=tmp_path)
    assert first != second and second.name.endswith("-2.json")
    assert json.loads(first.read_text())["figures"] == {"run": 1} and json.loads(second.read_text())["figures"] == {
        "run": 2}
