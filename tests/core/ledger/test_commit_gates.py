"""The commit gate: runs under the reliability/locality thresholds are refused unless
forced, and a forced commit says so in the edit log (API and CLI alike)."""

import json

import pytest

from core.ledger import LedgerError
from tests.core.ledger.helpers import hand_delta, make_facts


def _run(ws, fact, reliability: float, locality: float | None):
    post = {"reliability": reliability, **({"locality": locality} if locality is not None else {})}
    return ws.record_run(
        facts=[fact], delta=hand_delta(fact), computed_on=ws.head().state_fingerprint, hparams={}, seconds=0.01,
        metrics={"protocol": "test", "pre": {"reliability": 0.0}, "post": post, "per_fact": []},
        previews={}, environment={"seed": 0})


def _approved(ws, quality: list[tuple[float, float | None]]):
    facts = make_facts(len(quality))
    ws.add_facts(facts)
    runs = [_run(ws, fact, rel, loc) for fact, (rel, loc) in zip(facts, quality, strict=True)]
    for fact in facts:
        ws.review(fact.id, "approve")
    return runs


def test_runs_under_a_threshold_are_refused_and_nothing_is_written(workspace):
    runs = _approved(workspace, [(1.0, 0.95), (0.2, 0.95)])
    with pytest.raises(LedgerError, match=rf"run {runs[1].id}: reliability 0.20 < 0.90.*--force") as refused:
        workspace.commit("two", thresholds={"reliability": 0.9, "locality": 0.8})
    assert f"commit only the runs that pass (--run {runs[0].id})" in str(refused.value), "trial 44: --run N"
    assert len(workspace.log()) == 1  # only the root
    with pytest.raises(LedgerError) as refused:
        workspace.commit("one", [runs[1].id], thresholds={"reliability": 0.9})
    assert "--run" not in str(refused.value), "none passes: no runs to name"


def test_a_forced_commit_records_the_gate(workspace):
    runs = _approved(workspace, [(1.0, 0.5)])
    commit = workspace.commit("anyway", thresholds={"reliability": 0.9, "locality": 0.8}, force=True)
    assert commit.forced and commit.gate["warnings"] == [
        {"run": runs[0].id, "metric": "locality", "value": 0.5, "minimum": 0.8}]
    assert workspace.show("HEAD").commit.gate == commit.gate  # read back from the database


def test_a_passing_commit_records_its_thresholds_unforced(workspace):
    (run,) = _approved(workspace, [(1.0, None)])  # no locality measured: not held against the run
    commit = workspace.commit("fine", thresholds={"reliability": 0.9, "locality": 0.8}, force=True)
    # ... but said: trial 34's History read "Commit gate passed (locality ≥ 0.90 …)" for such a run
    assert not commit.forced and commit.gate == {"thresholds": {"reliability": 0.9, "locality": 0.8},
                                                 "warnings": [], "forced": False,
                                                 "unmeasured": [{"run": run.id, "metric": "locality"}]}
    assert workspace.show("HEAD").commit.gate == commit.gate  # read back from the database


def test_bad_thresholds_are_refused(workspace):
    _approved(workspace, [(1.0, 1.0)])
    with pytest.raises(ValueError, match="from 0 to 1"):
        workspace.commit("x", thresholds={"reliability": 1.5})
    with pytest.raises(ValueError, match="no commit threshold for 'fluency'"):
        workspace.commit("x", thresholds={"fluency": 0.5})


def test_cli_commit_applies_the_gate_and_force_is_recorded(workspace, capsys, monkeypatch):
    from core.cli import main

    _approved(workspace, [(0.5, 1.0)])
    monkeypatch.setenv("FACTSMITH_WORKSPACE", str(workspace.path))
    workspace.close()
    assert main(["commit", "-m", "low"]) == 2
    assert "commit refused" in capsys.readouterr().err
    assert main(["commit", "-m", "low", "--min-reliability", "0.4", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["gate"]["thresholds"]["reliability"] == 0.4


def test_cli_force_says_so(workspace, capsys, monkeypatch):
    from core.cli import main

    _approved(workspace, [(0.5, 1.0)])
    monkeypatch.setenv("FACTSMITH_WORKSPACE", str(workspace.path))
    workspace.close()
    assert main(["commit", "-m", "low", "--force"]) == 0
    assert "forced past the commit gate: run 1 reliability 0.50 < 0.95" in capsys.readouterr().out


def test_a_gated_metric_nobody_measured_is_said_at_commit(workspace, capsys, monkeypatch):
    """Trial 34: a run with no locality prompts was committed and the CLI said nothing of it."""
    from core.cli import main

    (run,) = _approved(workspace, [(1.0, None)])
    monkeypatch.setenv("FACTSMITH_WORKSPACE", str(workspace.path))
    workspace.close()
    assert main(["commit", "-m", "no locality prompts"]) == 0
    assert f"note: run {run.id}: locality not measured, so not checked by the gate" in capsys.readouterr().out


def test_a_forced_gate_also_says_what_nobody_measured_in_history_and_the_cli():
    """The CLI's line and History's html read the stored gate through one core function; History's
    forced line used to leave out the metrics no run measured."""
    from app.widgets.history_panel import _gate_html
    from core.cli.ledger_render import _gate_line
    from core.workflows.gates import recorded_gate

    gate = {"thresholds": {"reliability": 0.95, "locality": 0.9}, "forced": True,
            "warnings": [{"run": 3, "metric": "reliability", "value": 0.8, "minimum": 0.95}],
            "unmeasured": [{"run": 4, "metric": "locality"}]}
    said = recorded_gate(gate)
    assert (said.limits, said.warnings, said.unmeasured) == (
        "reliability >= 0.95, locality >= 0.90", "run 3 reliability 0.80 < 0.95", "run 4 locality")
    assert _gate_line(gate) == ("FORCED past the commit gate (reliability >= 0.95, locality >= 0.90): run 3 "
                                "reliability 0.80 < 0.95; not measured, so not checked: run 4 locality\n")
    record = type("C", (), {"gate": gate, "forced": True})()
    assert "not measured, so not checked: run 4 locality" in _gate_html(record) and "≥ 0.95" in _gate_html(record)
